# "(Beta) Implementing High-Performance Transformers with Scaled Dot Product Attention":
# F.scaled_dot_product_attention on random-free inputs, the sdpa_kernel context manager
# of torch.nn.attention choosing SDPBackend.MATH / FLASH_ATTENTION / EFFICIENT_ATTENTION
# with the tutorial's try/except RuntimeError around each (on CPU only MATH is sure to
# run), a CausalSelfAttention module with is_causal, an explicit boolean mask, and
# scale / dropout_p=0 arguments.
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

device = "cuda" if torch.cuda.is_available() else "cpu"
query = torch.linspace(-1, 1, 2 * 3 * 4 * 8).reshape(2, 3, 4, 8).to(device)
key = torch.linspace(1, -1, 2 * 3 * 4 * 8).reshape(2, 3, 4, 8).cos().to(device)
value = torch.linspace(0, 2, 2 * 3 * 4 * 8).reshape(2, 3, 4, 8).sin().to(device)
out = F.scaled_dot_product_attention(query, key, value)
print("sdpa:", list(out.shape), round(out.sum().item(), 5))
manual = torch.softmax(query @ key.transpose(-2, -1) / math.sqrt(8), dim=-1) @ value
print("equals manual:", torch.allclose(out, manual, atol=1e-6))
print(
    "backends:",
    [b.name for b in (SDPBackend.MATH, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION)],
)
with sdpa_kernel(SDPBackend.MATH):
    math_out = F.scaled_dot_product_attention(query, key, value)
print("math backend:", torch.allclose(math_out, out))
with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.MATH]):
    print("list with math:", torch.allclose(F.scaled_dot_product_attention(query, key, value), out))
if device == "cpu":
    with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
        try:
            F.scaled_dot_product_attention(query, key, value)
            print("cudnn attention: ran")
        except RuntimeError:
            print("cudnn attention: is not supported. See warnings for reasons.")


class CausalSelfAttention(nn.Module):
    def __init__(self, num_heads, embed_dimension, bias=False, is_causal=False, dropout=0.0):
        super().__init__()
        assert embed_dimension % num_heads == 0
        self.c_attn = nn.Linear(embed_dimension, 3 * embed_dimension, bias=bias)
        self.c_proj = nn.Linear(embed_dimension, embed_dimension, bias=bias)
        self.dropout = dropout
        self.resid_dropout = nn.Dropout(dropout)
        self.num_heads = num_heads
        self.embed_dimension = embed_dimension
        self.is_causal = is_causal

    def forward(self, x):
        query_projected = self.c_attn(x)
        batch_size = query_projected.size(0)
        embed_dim = query_projected.size(2)
        head_dim = embed_dim // (self.num_heads * 3)
        query, key, value = query_projected.chunk(3, -1)
        query = query.view(batch_size, -1, self.num_heads, head_dim).transpose(1, 2)
        key = key.view(batch_size, -1, self.num_heads, head_dim).transpose(1, 2)
        value = value.view(batch_size, -1, self.num_heads, head_dim).transpose(1, 2)
        dropout = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(
            query, key, value, attn_mask=None, dropout_p=dropout, is_causal=self.is_causal
        )
        y = y.transpose(1, 2).view(batch_size, -1, self.num_heads * head_dim)
        return self.resid_dropout(self.c_proj(y))


model = (
    CausalSelfAttention(num_heads=2, embed_dimension=8, bias=False, is_causal=True, dropout=0.1)
    .to(device)
    .eval()
)
with torch.no_grad():
    model.c_attn.weight.copy_(torch.sin(torch.arange(192.0)).reshape(24, 8) * 0.4)
    model.c_proj.weight.copy_(torch.cos(torch.arange(64.0)).reshape(8, 8) * 0.4)
print(model)
x = torch.linspace(-1, 1, 2 * 5 * 8).reshape(2, 5, 8)
y = model(x)
print("causal out:", y[0, 0].detach().numpy().round(5).tolist())
x2 = x.clone()
x2[:, -1] = 7.0
print("causal: earlier positions unchanged:", torch.allclose(model(x2)[:, :-1], y[:, :-1]))
mask = torch.ones(5, 5, dtype=torch.bool).tril()
q = k = v = x.view(2, 5, 2, 4).transpose(1, 2)
print(
    "bool mask equals is_causal:",
    torch.allclose(
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
        F.scaled_dot_product_attention(q, k, v, is_causal=True),
        atol=1e-6,
    ),
)
print("scale:", round(F.scaled_dot_product_attention(q, k, v, scale=0.1).sum().item(), 5))
float_mask = torch.zeros(5, 5).masked_fill(~mask, float("-inf"))
print(
    "float mask:",
    torch.allclose(
        F.scaled_dot_product_attention(q, k, v, attn_mask=float_mask),
        F.scaled_dot_product_attention(q, k, v, is_causal=True),
        atol=1e-6,
    ),
)
