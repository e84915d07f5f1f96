# Reduced-precision inference as users do it without autocast: model.bfloat16() /
# model.half() / model.to(torch.bfloat16), inputs cast to match, a small transformer-ish
# block (Linear, LayerNorm, GELU, softmax attention, Conv1d) run in each dtype, the
# outputs' dtypes, their distance from float32 (printed rounded to two significant
# digits), and a dtype-mismatch error when the input is not cast.
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d=8):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.conv = nn.Conv1d(d, d, 3, padding=1)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x):
        h = self.norm(x)
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        att = F.softmax(q @ k.transpose(-1, -2) / 8**0.5, dim=-1)
        x = x + self.proj(att @ v)
        x = x + self.conv(x.transpose(1, 2)).transpose(1, 2)
        return x + self.mlp(self.norm(x))


model = Block()
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.61 + i).view_as(p) * 0.3)
model.eval()
x = torch.cos(torch.arange(2 * 5 * 8, dtype=torch.float32) * 0.23).view(2, 5, 8)
with torch.no_grad():
    ref = model(x)
print("float32 out:", ref[0, 0])
for dtype, convert in (
    (torch.bfloat16, lambda m: m.bfloat16()),
    (torch.float16, lambda m: m.half()),
):
    m = Block()
    m.load_state_dict(model.state_dict())
    m.eval()
    convert(m)
    print("param dtype:", next(m.parameters()).dtype, m.norm.weight.dtype)
    with torch.no_grad():
        out = m(x.to(dtype))
    print("out dtype:", out.dtype)
    err = (out.float() - ref).abs().max().item()
    print("small error:", err < (0.1 if dtype == torch.bfloat16 else 0.02))
    try:
        m(x)
    except RuntimeError as e:
        print("mismatch error:", type(e).__name__)
m = Block()
m.load_state_dict(model.state_dict())
m.to(torch.bfloat16)
print("to(bfloat16):", m.qkv.weight.dtype, m.qkv.weight.is_floating_point())
print("bf16 tensor:", torch.tensor([1.0, 1.00390625, 3.14159], dtype=torch.bfloat16))
print("half tensor:", torch.tensor([1.0, 1.0009765625, 3.14159], dtype=torch.float16))
print("bf16 sum:", torch.full((1000,), 0.1, dtype=torch.bfloat16).sum())
print(
    "half matmul:",
    (torch.full((1, 64), 0.1, dtype=torch.float16) @ torch.full((64, 1), 0.1, dtype=torch.float16)),
)
