# Self-supervised contrastive learning (SimCLR) as commonly implemented: two augmented
# views made with inline tensor transforms (flip, crop-and-resize with F.interpolate,
# brightness jitter driven by a NumPy stream), an encoder + projection head, the NT-Xent
# loss via F.normalize, a similarity matrix, masking the diagonal with
# torch.eye(...).bool() and masked_fill, positives at (i, i+N), and CrossEntropyLoss over
# the logits; plus a CLIP-style symmetric loss with a learnable logit_scale.
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

rng = np.random.default_rng(41)
images = torch.from_numpy(rng.random((6, 3, 10, 10)).astype(np.float32))


def augment(x):
    out = []
    for img in x:
        if rng.random() < 0.5:
            img = torch.flip(img, dims=[2])
        top, left = rng.integers(0, 3, 2)
        crop = img[:, top : top + 8, left : left + 8]
        img = F.interpolate(crop.unsqueeze(0), size=(10, 10), mode="bilinear", align_corners=False)[
            0
        ]
        img = (img * float(rng.uniform(0.8, 1.2))).clamp(0, 1)
        out.append(img)
    return torch.stack(out)


class SimCLR(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.projector = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4))

    def forward(self, x):
        return self.projector(self.encoder(x))


def nt_xent(z1, z2, temperature=0.5):
    N = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)
    sim = z @ z.T / temperature
    mask = torch.eye(2 * N, dtype=torch.bool)
    sim = sim.masked_fill(mask, float("-inf"))
    targets = torch.cat([torch.arange(N, 2 * N), torch.arange(0, N)])
    return F.cross_entropy(sim, targets)


def nt_xent_loop(z1, z2, temperature=0.5):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    total = 0.0
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        sims = torch.stack([torch.dot(z[i], z[k]) / temperature for k in range(2 * n) if k != i])
        pos = torch.dot(z[i], z[j]) / temperature
        total = total - (pos - torch.logsumexp(sims, 0))
    return total / (2 * n)


model = SimCLR()
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(
            torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.63 + i).reshape(p.shape)
            * 0.4
        )
v1, v2 = augment(images), augment(images)
z1, z2 = model(v1), model(v2)
print("nt-xent:", round(nt_xent(z1, z2).item(), 6), round(nt_xent_loop(z1, z2).item(), 6))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
for step in range(5):
    v1, v2 = augment(images), augment(images)
    loss = nt_xent(model(v1), model(v2), temperature=0.2)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print("step", step, round(loss.item(), 5))

logit_scale = nn.Parameter(torch.ones([]) * np.log(1 / 0.07))
img_emb = F.normalize(torch.linspace(-1, 1, 12).reshape(4, 3), dim=-1)
txt_emb = F.normalize(torch.linspace(1, -0.5, 12).reshape(4, 3).roll(1, 0), dim=-1)
logits_per_image = logit_scale.exp() * img_emb @ txt_emb.t()
labels = torch.arange(4)
clip_loss = (
    F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_image.t(), labels)
) / 2
clip_loss.backward()
print("clip:", round(clip_loss.item(), 5), "logit_scale grad:", round(logit_scale.grad.item(), 5))
