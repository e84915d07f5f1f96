# F.scaled_dot_product_attention as the SDPA tutorial and docs define it, checked against
# the reference math (the docs' "efficient implementation equivalent"): a boolean mask
# (True = take part), an additive float mask, is_causal with Lq != Lk (upper-left
# causal), a custom scale, enable_gqa with fewer key/value heads, fully masked rows, and
# gradients w.r.t. q, k, v against the reference.
import math

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)


def reference(query, key, value, attn_mask=None, is_causal=False, scale=None, enable_gqa=False):
    L, S = query.size(-2), key.size(-2)
    scale_factor = 1 / math.sqrt(query.size(-1)) if scale is None else scale
    attn_bias = torch.zeros(L, S, dtype=query.dtype)
    if is_causal:
        temp_mask = torch.ones(L, S, dtype=torch.bool).tril(diagonal=0)
        attn_bias.masked_fill_(temp_mask.logical_not(), float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            attn_bias = attn_bias.masked_fill(attn_mask.logical_not(), float("-inf"))
        else:
            attn_bias = attn_mask + attn_bias
    if enable_gqa:
        key = key.repeat_interleave(query.size(-3) // key.size(-3), -3)
        value = value.repeat_interleave(query.size(-3) // value.size(-3), -3)
    attn_weight = query @ key.transpose(-2, -1) * scale_factor
    attn_weight += attn_bias
    attn_weight = torch.softmax(attn_weight, dim=-1)
    return attn_weight @ value


def make(*shape, phase=0.0):
    n = math.prod(shape)
    return torch.sin(torch.arange(n, dtype=torch.float64) * 0.37 + phase).view(*shape)


q, k, v = make(2, 2, 4, 8), make(2, 2, 6, 8, phase=1.0), make(2, 2, 6, 8, phase=2.0)
print("plain:", torch.allclose(F.scaled_dot_product_attention(q, k, v), reference(q, k, v)))
bool_mask = torch.ones(4, 6, dtype=torch.bool).tril(diagonal=1)
print(
    "bool mask:",
    torch.allclose(
        F.scaled_dot_product_attention(q, k, v, attn_mask=bool_mask), reference(q, k, v, bool_mask)
    ),
)
float_mask = make(4, 6, phase=3.0)
print(
    "float mask:",
    torch.allclose(
        F.scaled_dot_product_attention(q, k, v, attn_mask=float_mask),
        reference(q, k, v, float_mask),
    ),
)
print(
    "causal Lq<Lk:",
    torch.allclose(
        F.scaled_dot_product_attention(q, k, v, is_causal=True), reference(q, k, v, is_causal=True)
    ),
)
print(
    "scale:",
    torch.allclose(
        F.scaled_dot_product_attention(q, k, v, scale=0.1), reference(q, k, v, scale=0.1)
    ),
)
out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
print("causal row 0:", out[0, 0, 0])

qg, kg, vg = make(1, 4, 3, 8), make(1, 2, 5, 8, phase=1.0), make(1, 2, 5, 8, phase=2.0)
gqa = F.scaled_dot_product_attention(qg, kg, vg, enable_gqa=True)
print("gqa:", gqa.shape, torch.allclose(gqa, reference(qg, kg, vg, enable_gqa=True)))

masked = torch.ones(4, 6, dtype=torch.bool)
masked[1] = False
res = F.scaled_dot_product_attention(q, k, v, attn_mask=masked)
print(
    "fully masked row nan:",
    torch.isnan(res[0, 0, 1]).all().item(),
    torch.isnan(res[0, 0, 0]).any().item(),
)

qr, kr, vr = (t.clone().requires_grad_() for t in (q, k, v))
F.scaled_dot_product_attention(qr, kr, vr, attn_mask=float_mask, is_causal=False).pow(
    2
).sum().backward()
grads = [t.grad.clone() for t in (qr, kr, vr)]
for t in (qr, kr, vr):
    t.grad = None
reference(qr, kr, vr, float_mask).pow(2).sum().backward()
print("grads:", [torch.allclose(g, t.grad) for g, t in zip(grads, (qr, kr, vr))])
