# The nn.Transformer* docs examples: TransformerEncoderLayer / DecoderLayer with
# batch_first, norm_first and gelu, TransformerEncoder with a final norm, a full
# nn.Transformer with causal and padding masks, and the layer reprs; the outputs are
# compared in eval mode (no dropout).
import torch
import torch.nn as nn


def init(module, scale=0.2):
    with torch.no_grad():
        for i, (name, p) in enumerate(module.named_parameters()):
            if "norm" in name:
                continue
            p.copy_(
                torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.37 + i).reshape(p.shape)
                * scale
            )


def show(name, t):
    print(
        f"{name}:",
        list(t.shape),
        round(t.sum().item(), 4),
        t.reshape(-1)[:3].detach().numpy().round(5).tolist(),
    )


src = torch.cos(torch.arange(10 * 32 * 16, dtype=torch.float32) * 0.05).reshape(10, 32, 16)[:, :4]
encoder_layer = nn.TransformerEncoderLayer(d_model=16, nhead=4, dim_feedforward=32)
init(encoder_layer)
encoder_layer.eval()
out = encoder_layer(src)
show("encoder layer", out)
encoder_layer_bf = nn.TransformerEncoderLayer(
    d_model=16, nhead=4, dim_feedforward=32, batch_first=True, norm_first=True, activation="gelu"
)
init(encoder_layer_bf)
encoder_layer_bf.eval()
show("batch_first norm_first gelu", encoder_layer_bf(src.transpose(0, 1)))
transformer_encoder = nn.TransformerEncoder(
    encoder_layer, num_layers=2, norm=nn.LayerNorm(16), enable_nested_tensor=False
)
transformer_encoder.eval()
show("encoder stack", transformer_encoder(src))
mask = nn.Transformer.generate_square_subsequent_mask(10)
show("encoder causal", transformer_encoder(src, mask=mask, is_causal=True))
padding = torch.zeros(4, 10, dtype=torch.bool)
padding[1, 7:] = True
show("encoder padding", transformer_encoder(src, src_key_padding_mask=padding)[:7])

memory = src
tgt = torch.sin(torch.arange(6 * 4 * 16, dtype=torch.float32) * 0.03).reshape(6, 4, 16)
decoder_layer = nn.TransformerDecoderLayer(d_model=16, nhead=4, dim_feedforward=32)
init(decoder_layer)
decoder_layer.eval()
show("decoder layer", decoder_layer(tgt, memory))
transformer_decoder = nn.TransformerDecoder(decoder_layer, num_layers=2)
transformer_decoder.eval()
tgt_mask = nn.Transformer.generate_square_subsequent_mask(6)
show(
    "decoder stack causal", transformer_decoder(tgt, memory, tgt_mask=tgt_mask, tgt_is_causal=True)
)
show("decoder memory padding", transformer_decoder(tgt, memory, memory_key_padding_mask=padding))

transformer_model = nn.Transformer(
    d_model=16, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=32
)
init(transformer_model)
transformer_model.eval()
out = transformer_model(src, tgt, tgt_mask=tgt_mask)
show("nn.Transformer", out)
print("transformer params:", sum(p.numel() for p in transformer_model.parameters()))
print("first keys:", list(transformer_model.state_dict())[:6])
transformer_model.train()
tgt_g = tgt.clone().requires_grad_(True)
with torch.no_grad():
    for m in transformer_model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
        if isinstance(m, nn.MultiheadAttention):
            m.dropout = 0.0
(transformer_model(src, tgt_g, tgt_mask=tgt_mask) * torch.linspace(-1, 1, 16)).sum().backward()
print("grad:", round(tgt_g.grad.abs().sum().item(), 5))
print(encoder_layer_bf)
