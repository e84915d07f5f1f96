# nn.MultiheadAttention as the docs and transformer code call it, with weights set from
# NumPy: self-attention with batch_first, key_padding_mask (bool), attn_mask (bool
# causal and float additive), need_weights averaged over heads and per head, kdim /
# vdim cross-attention, an all-masked key row, and gradients through the masks.
import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(0)
E, H, L, S, N = 8, 2, 4, 5, 2


def fill(module):
    with torch.no_grad():
        for prm in module.parameters():
            prm.copy_(
                torch.from_numpy(rng.standard_normal(tuple(prm.shape)).astype(np.float32) * 0.3)
            )


mha = nn.MultiheadAttention(E, H, batch_first=True)
fill(mha)
x = torch.from_numpy(rng.standard_normal((N, L, E)).astype(np.float32))
out, w = mha(x, x, x)
print("self:", out.shape, w.shape, out[0, 0, :4])
print("weights rows sum to 1:", torch.allclose(w.sum(-1), torch.ones(N, L)))
causal = torch.triu(torch.ones(L, L, dtype=torch.bool), diagonal=1)
out, w = mha(x, x, x, attn_mask=causal)
print("causal weights:", w[0])
float_mask = nn.Transformer.generate_square_subsequent_mask(L)
print("float mask:", float_mask)
out2, _ = mha(x, x, x, attn_mask=float_mask)
print("float == bool mask:", torch.allclose(out, out2, atol=1e-6))
pad = torch.tensor([[False, False, False, True], [False, False, True, True]])
out, w = mha(x, x, x, key_padding_mask=pad)
print("padding weights:", w[1])
print("padded keys get 0:", w[1][:, 2:].abs().max().item())
out, w = mha(x, x, x, key_padding_mask=pad, need_weights=True, average_attn_weights=False)
print("per-head:", w.shape, w[1, 1, 0])
out, w = mha(x, x, x, need_weights=False)
print("no weights:", w, out[1, 3, :3])
mask3d = causal.unsqueeze(0).expand(N * H, L, L)
out3, _ = mha(x, x, x, attn_mask=mask3d)
print("3-d mask:", out3.shape, torch.allclose(out3, mha(x, x, x, attn_mask=causal)[0], atol=1e-6))
cross = nn.MultiheadAttention(E, H, kdim=6, vdim=3, batch_first=True)
fill(cross)
mem_k = torch.from_numpy(rng.standard_normal((N, S, 6)).astype(np.float32))
mem_v = torch.from_numpy(rng.standard_normal((N, S, 3)).astype(np.float32))
out, w = cross(x, mem_k, mem_v)
print("kdim/vdim:", out.shape, w.shape, out[0, 0, :3])
print("proj names:", sorted(n for n, _ in cross.named_parameters()))
seq_first = nn.MultiheadAttention(E, H, dropout=0.0, bias=False)
fill(seq_first)
xs = x.transpose(0, 1)
out, w = seq_first(xs, xs, xs)
print("seq first:", out.shape, out[0, 0, :3])
xg = x.clone().requires_grad_()
out, _ = mha(xg, xg, xg, key_padding_mask=pad, attn_mask=causal)
out.sum().backward()
print("grad:", xg.grad[1, 3, :3], xg.grad.abs().sum())
print(mha.in_proj_weight.shape, mha.out_proj)
