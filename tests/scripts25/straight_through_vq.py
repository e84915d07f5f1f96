# Straight-through estimators as VQ-VAE and discrete-latent code writes them: hard one-hot
# from argmax with (hard - soft).detach() + soft, F.gumbel_softmax(hard=True) shapes and
# gradients, a vector-quantizer (nearest codebook entry by cdist / argmin, the quantized
# vector with the straight-through trick, codebook and commitment losses), perplexity of
# code usage, and a few training steps on synthetic data (values from NumPy).
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

rng = np.random.default_rng(0)
logits = torch.from_numpy(rng.standard_normal((4, 5)).astype(np.float32)).requires_grad_()
soft = logits.softmax(-1)
index = soft.argmax(-1)
hard = F.one_hot(index, 5).float()
st = (hard - soft).detach() + soft
print("straight-through forward == hard:", torch.equal(st, hard))
(st * torch.arange(5.0)).sum().backward()
print("grad flows like softmax:", logits.grad[0])
torch.manual_seed(0)
g = F.gumbel_softmax(torch.zeros(3, 4, requires_grad=True), tau=0.5, hard=True)
print("gumbel hard:", g.sum(-1), ((g == 0) | (g == 1)).all().item(), g.requires_grad)
print("rng gumbel:", g.argmax(-1).tolist())


class VectorQuantizer(nn.Module):
    def __init__(self, num_codes, dim, beta=0.25):
        super().__init__()
        self.codebook = nn.Embedding(num_codes, dim)
        self.beta = beta

    def forward(self, z):
        flat = z.reshape(-1, z.shape[-1])
        d = torch.cdist(flat, self.codebook.weight)
        codes = d.argmin(-1)
        q = self.codebook(codes).view_as(z)
        codebook_loss = F.mse_loss(q, z.detach())
        commitment = F.mse_loss(z, q.detach())
        q_st = z + (q - z).detach()
        return q_st, codebook_loss + self.beta * commitment, codes


vq = VectorQuantizer(6, 3)
enc = nn.Linear(4, 3)
dec = nn.Linear(3, 4)
for m in (vq, enc, dec):
    with torch.no_grad():
        for prm in m.parameters():
            prm.copy_(
                torch.from_numpy(rng.standard_normal(tuple(prm.shape)).astype(np.float32) * 0.5)
            )
data = torch.from_numpy(rng.standard_normal((32, 4)).astype(np.float32))
opt = torch.optim.Adam(
    list(vq.parameters()) + list(enc.parameters()) + list(dec.parameters()), lr=0.05
)
for step in range(8):
    z = enc(data)
    q, vq_loss, codes = vq(z)
    recon = dec(q)
    loss = F.mse_loss(recon, data) + vq_loss
    opt.zero_grad()
    loss.backward()
    opt.step()
    usage = torch.bincount(codes, minlength=6).float() / codes.numel()
    perplexity = torch.exp(-(usage * torch.log(usage + 1e-10)).sum())
    print("step", step, round(loss.item(), 5), round(perplexity.item(), 4), codes[:6].tolist())
print("encoder got gradient:", enc.weight.grad.abs().sum().item() > 0)
print("codebook grad rows used:", (vq.codebook.weight.grad.abs().sum(1) > 0).tolist())
