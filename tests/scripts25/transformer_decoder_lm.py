# nn.TransformerDecoder / nn.Transformer as the docs and seq2seq code use them, with
# dropout 0 and weights from NumPy: a decoder stack over an encoder memory with a causal
# tgt_mask, tgt / memory key_padding_masks, norm_first, a final LayerNorm, the full
# nn.Transformer forward, a few training steps, and greedy decoding one token at a time.
import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(0)
V, E, H, S, T, N = 11, 16, 4, 6, 5, 2


def fill(module, scale=0.2):
    with torch.no_grad():
        for name, prm in module.named_parameters():
            if "norm" in name and name.endswith("weight"):
                prm.fill_(1.0)
            else:
                prm.copy_(
                    torch.from_numpy(
                        rng.standard_normal(tuple(prm.shape)).astype(np.float32) * scale
                    )
                )


layer = nn.TransformerDecoderLayer(
    d_model=E, nhead=H, dim_feedforward=32, dropout=0.0, batch_first=True
)
decoder = nn.TransformerDecoder(layer, num_layers=2, norm=nn.LayerNorm(E))
fill(decoder)
print(decoder.layers[0].self_attn.embed_dim, len(decoder.layers), type(decoder.norm).__name__)
memory = torch.from_numpy(rng.standard_normal((N, S, E)).astype(np.float32))
tgt = torch.from_numpy(rng.standard_normal((N, T, E)).astype(np.float32))
tgt_mask = nn.Transformer.generate_square_subsequent_mask(T)
out = decoder(tgt, memory, tgt_mask=tgt_mask)
print("decoder:", out.shape, out[0, 0, :4], out[1, -1, -3:])
out_causal = decoder(tgt, memory, tgt_mask=tgt_mask, tgt_is_causal=True)
print("tgt_is_causal same:", torch.allclose(out, out_causal, atol=1e-5))
tgt_pad = torch.tensor([[False] * T, [False, False, False, True, True]])
mem_pad = torch.tensor([[False] * S, [False] * 4 + [True] * 2])
out = decoder(
    tgt, memory, tgt_mask=tgt_mask, tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=mem_pad
)
print("padded:", out[1, 2, :4])
prefix = decoder(tgt[:, :3], memory, tgt_mask=nn.Transformer.generate_square_subsequent_mask(3))
full = decoder(tgt, memory, tgt_mask=tgt_mask)
print("causal prefix independent:", torch.allclose(prefix, full[:, :3], atol=1e-5))
pre = nn.TransformerDecoderLayer(
    E, H, 32, dropout=0.0, batch_first=True, norm_first=True, activation="gelu"
)
fill(pre)
print("norm_first:", pre(tgt, memory)[0, 1, :4])


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.src_emb = nn.Embedding(V, E)
        self.tgt_emb = nn.Embedding(V, E)
        self.transformer = nn.Transformer(
            d_model=E,
            nhead=H,
            num_encoder_layers=1,
            num_decoder_layers=1,
            dim_feedforward=32,
            dropout=0.0,
            batch_first=True,
        )
        self.out = nn.Linear(E, V)

    def forward(self, src, tgt):
        mask = self.transformer.generate_square_subsequent_mask(tgt.size(1))
        h = self.transformer(self.src_emb(src), self.tgt_emb(tgt), tgt_mask=mask)
        return self.out(h)


model = Seq2Seq()
fill(model)
src = torch.from_numpy(rng.integers(1, V, (4, S)))
tgt_in = torch.cat([torch.zeros(4, 1, dtype=torch.long), src[:, :-1].flip(1)], 1)
tgt_out = src.flip(1)
opt = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(8):
    logits = model(src, tgt_in)
    loss = nn.functional.cross_entropy(logits.reshape(-1, V), tgt_out.reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 2 == 0:
        print("step", step, round(loss.item(), 4))
model.eval()
with torch.no_grad():
    ys = torch.zeros(4, 1, dtype=torch.long)
    for _ in range(S):
        next_tok = model(src, ys)[:, -1].argmax(-1, keepdim=True)
        ys = torch.cat([ys, next_tok], dim=1)
print("greedy:", ys[:, 1:].tolist())
print("target:", tgt_out.tolist())
