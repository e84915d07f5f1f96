# "(Beta) Implementing High-Performance Transformers with Scaled Dot Product Attention":
# F.scaled_dot_product_attention against the math definition, with is_causal, boolean and
# additive attn_mask, scale=, and a CausalSelfAttention module as in the tutorial; plus
# nn.MultiheadAttention with key_padding_mask and the causal mask helper.
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"


def det(*shape, scale=1.0):
    n = math.prod(shape)
    return (torch.sin(torch.arange(n, dtype=torch.float32) * 0.37) * scale).reshape(shape)


query, key, value = det(2, 3, 8, 4), det(2, 3, 8, 4, scale=0.7) + 0.1, det(2, 3, 8, 4, scale=1.3)
out = F.scaled_dot_product_attention(query, key, value)
print("sdpa:", list(out.shape), round(out.sum().item(), 4), out[0, 0, 0].numpy().round(5).tolist())


def math_attention(q, k, v, attn_mask=None, is_causal=False, scale=None):
    L, S = q.size(-2), k.size(-2)
    scale_factor = 1 / math.sqrt(q.size(-1)) if scale is None else scale
    attn_bias = torch.zeros(L, S, dtype=q.dtype)
    if is_causal:
        temp_mask = torch.ones(L, S, dtype=torch.bool).tril(diagonal=0)
        attn_bias.masked_fill_(temp_mask.logical_not(), float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            attn_bias = attn_bias.masked_fill(attn_mask.logical_not(), float("-inf"))
        else:
            attn_bias = attn_mask + attn_bias
    attn_weight = q @ k.transpose(-2, -1) * scale_factor
    attn_weight += attn_bias
    attn_weight = torch.softmax(attn_weight, dim=-1)
    return attn_weight @ v


print("matches math:", torch.allclose(out, math_attention(query, key, value), atol=1e-6))
causal = F.scaled_dot_product_attention(query, key, value, is_causal=True)
print(
    "causal:", torch.allclose(causal, math_attention(query, key, value, is_causal=True), atol=1e-6)
)
print("causal first row = v0:", torch.allclose(causal[..., 0, :], value[..., 0, :]))
bool_mask = torch.ones(8, 8, dtype=torch.bool).tril(-1) | torch.eye(8, dtype=torch.bool)
masked = F.scaled_dot_product_attention(query, key, value, attn_mask=bool_mask)
print("bool mask == causal:", torch.allclose(masked, causal, atol=1e-6))
float_mask = det(8, 8, scale=0.5)
fm = F.scaled_dot_product_attention(query, key, value, attn_mask=float_mask, scale=0.3)
print(
    "float mask + scale:",
    torch.allclose(fm, math_attention(query, key, value, float_mask, scale=0.3), atol=1e-6),
)
print("float mask value:", round(fm.sum().item(), 4))
q = query.clone().requires_grad_(True)
F.scaled_dot_product_attention(q, key, value, is_causal=True).pow(2).sum().backward()
print("sdpa grad:", round(q.grad.sum().item(), 5), q.grad[1, 2, 3].numpy().round(5).tolist())


class CausalSelfAttention(nn.Module):
    def __init__(
        self,
        num_heads: int,
        embed_dimension: int,
        bias: bool = False,
        is_causal: bool = False,
        dropout: float = 0.0,
    ):
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
        if self.training:
            dropout = self.dropout
            is_causal = self.is_causal
        else:
            dropout = 0.0
            is_causal = False
        y = F.scaled_dot_product_attention(
            query, key, value, attn_mask=None, dropout_p=dropout, is_causal=is_causal
        )
        y = y.transpose(1, 2).view(batch_size, -1, self.num_heads * head_dim)
        y = self.resid_dropout(self.c_proj(y))
        return y


num_heads, heads_per_dim = 4, 8
embed_dimension = num_heads * heads_per_dim
model = (
    CausalSelfAttention(
        num_heads=num_heads,
        embed_dimension=embed_dimension,
        bias=False,
        is_causal=True,
        dropout=0.0,
    )
    .to(device)
    .eval()
)
with torch.no_grad():
    model.c_attn.weight.copy_(det(3 * embed_dimension, embed_dimension, scale=0.2))
    model.c_proj.weight.copy_(det(embed_dimension, embed_dimension, scale=0.15))
print(model)
x = det(2, 6, embed_dimension)
y = model(x)
print(
    "module out:",
    list(y.shape),
    round(y.sum().item(), 4),
    y[0, 0, :4].detach().numpy().round(5).tolist(),
)
model.train()
print("train (causal):", round(model(x).sum().item(), 4))

# nn.MultiheadAttention with a causal mask and padding
mha = nn.MultiheadAttention(embed_dim=8, num_heads=2, batch_first=True)
with torch.no_grad():
    mha.in_proj_weight.copy_(det(24, 8, scale=0.3))
    mha.in_proj_bias.zero_()
    mha.out_proj.weight.copy_(det(8, 8, scale=0.25))
    mha.out_proj.bias.fill_(0.01)
src = det(2, 5, 8)
mask = nn.Transformer.generate_square_subsequent_mask(5)
print("causal mask:", mask[1].tolist())
padding = torch.tensor([[False] * 5, [False, False, False, True, True]])
attn_out, attn_w = mha(src, src, src, attn_mask=mask, key_padding_mask=padding)
print("mha out:", list(attn_out.shape), round(attn_out.sum().item(), 4))
print("mha weights:", list(attn_w.shape), attn_w[1, 4].detach().numpy().round(5).tolist())
_, per_head = mha(src, src, src, need_weights=True, average_attn_weights=False)
print("per-head weights:", list(per_head.shape), round(per_head.sum().item(), 4))
