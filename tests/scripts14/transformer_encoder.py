# "Language modeling with nn.Transformer" (the TransformerModel with PositionalEncoding and
# a causal mask) trained a few steps on a synthetic token stream, and nn.MultiheadAttention.
import math

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import TransformerEncoder, TransformerEncoderLayer

torch.manual_seed(0)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


class PositionalEncoding(nn.Module):
    def __init__(self, d_model: int, dropout: float = 0.1, max_len: int = 5000):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, 1, d_model)
        pe[:, 0, 0::2] = torch.sin(position * div_term)
        pe[:, 0, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.pe[: x.size(0)]
        return self.dropout(x)


class TransformerModel(nn.Module):
    def __init__(
        self, ntoken: int, d_model: int, nhead: int, d_hid: int, nlayers: int, dropout: float = 0.5
    ):
        super().__init__()
        self.model_type = "Transformer"
        self.pos_encoder = PositionalEncoding(d_model, dropout)
        encoder_layers = TransformerEncoderLayer(d_model, nhead, d_hid, dropout)
        self.transformer_encoder = TransformerEncoder(
            encoder_layers, nlayers, enable_nested_tensor=False
        )
        self.embedding = nn.Embedding(ntoken, d_model)
        self.d_model = d_model
        self.linear = nn.Linear(d_model, ntoken)
        self.init_weights()

    def init_weights(self) -> None:
        initrange = 0.1
        self.embedding.weight.data.uniform_(-initrange, initrange)
        self.linear.bias.data.zero_()
        self.linear.weight.data.uniform_(-initrange, initrange)

    def forward(self, src: Tensor, src_mask: Tensor = None) -> Tensor:
        src = self.embedding(src) * math.sqrt(self.d_model)
        src = self.pos_encoder(src)
        if src_mask is None:
            src_mask = nn.Transformer.generate_square_subsequent_mask(len(src)).to(device)
        output = self.transformer_encoder(src, src_mask)
        output = self.linear(output)
        return output


ntokens = 20
emsize = 32
d_hid = 64
nlayers = 2
nhead = 4
dropout = 0.2
model = TransformerModel(ntokens, emsize, nhead, d_hid, nlayers, dropout).to(device)
print("param names:", [k for k in model.state_dict().keys()][:12])
print("num params:", sum(p.numel() for p in model.parameters()))

rng = np.random.default_rng(0)
with torch.no_grad():
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            p.copy_(
                torch.from_numpy(rng.uniform(-0.02, 0.02, size=tuple(p.shape)).astype(np.float32))
            )
        elif "norm" in name:
            p.fill_(1.0)
        else:
            p.copy_(
                torch.from_numpy(rng.uniform(-0.15, 0.15, size=tuple(p.shape)).astype(np.float32))
            )

mask = nn.Transformer.generate_square_subsequent_mask(4)
print("mask:", mask.tolist())
print(
    "triu mask equal:", torch.equal(mask, torch.triu(torch.full((4, 4), float("-inf")), diagonal=1))
)

data = torch.tensor([(i * 3 + i // 5) % ntokens for i in range(400)], dtype=torch.long)


def batchify(data: Tensor, bsz: int) -> Tensor:
    seq_len = data.size(0) // bsz
    data = data[: seq_len * bsz]
    data = data.view(bsz, seq_len).t().contiguous()
    return data.to(device)


train_data = batchify(data, 8)
bptt = 12


def get_batch(source: Tensor, i: int):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i : i + seq_len]
    target = source[i + 1 : i + 1 + seq_len].reshape(-1)
    return data, target


criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1.0, gamma=0.95)

model.eval()  # dropout off: the numbers below do not depend on the random stream
with torch.no_grad():
    data0, targets0 = get_batch(train_data, 0)
    out0 = model(data0)
    print(
        "eval output:",
        list(out0.shape),
        round(out0.sum().item(), 3),
        out0[0, 0, :4].numpy().round(4).tolist(),
    )
    print("eval loss:", criterion(out0.view(-1, ntokens), targets0).item())

# deterministic training (eval mode: no dropout) then one train-mode epoch
for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):
    data_b, targets = get_batch(train_data, i)
    output = model(data_b)
    loss = criterion(output.view(-1, ntokens), targets)
    optimizer.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
    optimizer.step()
    print(
        f"batch {batch} lr {scheduler.get_last_lr()[0]:.4f} loss {loss.item():.4f} "
        f"ppl {math.exp(loss.item()):.3f}"
    )
scheduler.step()
model.train()
for i in range(0, 3 * bptt, bptt):
    data_b, targets = get_batch(train_data, i)
    loss = criterion(model(data_b).view(-1, ntokens), targets)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print(f"rng train-mode loss: {loss.item():.4f}")

# nn.MultiheadAttention on its own
mha = nn.MultiheadAttention(embed_dim=8, num_heads=2, batch_first=True)
with torch.no_grad():
    for p in mha.parameters():
        p.copy_(torch.from_numpy(rng.uniform(-0.3, 0.3, size=tuple(p.shape)).astype(np.float32)))
q = torch.from_numpy(rng.standard_normal((2, 3, 8)).astype(np.float32))
kv = torch.from_numpy(rng.standard_normal((2, 5, 8)).astype(np.float32))
pad = torch.tensor([[False, False, False, True, True], [False, False, False, False, False]])
attn_output, attn_weights = mha(q, kv, kv, key_padding_mask=pad)
print("mha params:", [n for n, _ in mha.named_parameters()])
print("mha out:", list(attn_output.shape), attn_output[0, 0].detach().numpy().round(5).tolist())
print(
    "mha weights:", list(attn_weights.shape), attn_weights[0, 0].detach().numpy().round(5).tolist()
)
_, per_head = mha(q, kv, kv, average_attn_weights=False)
print("per-head weights:", list(per_head.shape))
attn_output.sum().backward()
print("in_proj grad norm:", round(mha.in_proj_weight.grad.norm().item(), 4))
sdpa = nn.functional.scaled_dot_product_attention(q, kv, kv, is_causal=False)
print("sdpa:", list(sdpa.shape), round(sdpa.sum().item(), 4))
