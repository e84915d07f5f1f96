# "Datasets & DataLoaders" (a custom Dataset, Subset, ConcatDataset, a collate_fn,
# WeightedRandomSampler for an imbalanced set) and activation checkpointing with
# torch.utils.checkpoint (gradients equal to the plain run's).
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset, WeightedRandomSampler

warnings.simplefilter("ignore")


class CustomImageDataset(Dataset):
    def __init__(self, n, offset=0, transform=None, target_transform=None):
        self.n, self.offset = n, offset
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self):
        return self.n

    def __getitem__(self, idx):
        image = torch.full((1, 2, 2), float(idx + self.offset))
        label = (idx + self.offset) % 3
        if self.transform:
            image = self.transform(image)
        if self.target_transform:
            label = self.target_transform(label)
        return image, label


ds = CustomImageDataset(7, transform=lambda x: x / 10, target_transform=lambda y: torch.tensor(y))
img, label = ds[5]
print("item:", img.flatten().tolist(), label.item(), label.dtype)
loader = DataLoader(ds, batch_size=3)
for xb, yb in loader:
    print("batch:", list(xb.shape), yb.tolist(), round(xb.sum().item(), 4))
sub = Subset(ds, [0, 2, 4])
cat = ConcatDataset([ds, CustomImageDataset(2, offset=100)])
print("subset/concat:", len(sub), sub[1][1].item(), len(cat), cat[8][1])


def collate(batch):
    images, labels = zip(*batch)
    return torch.stack(images).flatten(1), torch.tensor([int(v) for v in labels])


for xb, yb in DataLoader(cat, batch_size=4, collate_fn=collate, drop_last=True):
    print("collated:", list(xb.shape), yb.tolist())

# an imbalanced set: sample each class about equally often
labels = torch.tensor([0] * 90 + [1] * 10)
class_count = torch.tensor([(labels == c).sum() for c in range(2)])
weights = 1.0 / class_count.float()
sample_weights = weights[labels]
sampler = WeightedRandomSampler(sample_weights, num_samples=2000, replacement=True)
drawn = torch.tensor(list(sampler))
frac = (labels[drawn] == 1).float().mean().item()
print("balanced by sampler:", len(sampler), abs(frac - 0.5) < 0.06)
g = torch.Generator().manual_seed(0)
no_repeat = list(WeightedRandomSampler([1.0, 2.0, 3.0, 4.0], 4, replacement=False, generator=g))
print("without replacement:", sorted(no_repeat))
loader = DataLoader(
    torch.utils.data.TensorDataset(torch.arange(100)), batch_size=25, sampler=sampler
)
print("loader with sampler:", len(loader), [len(b[0]) for b in loader][:3])

# activation checkpointing
rng = np.random.default_rng(0)
model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.from_numpy(rng.uniform(-0.4, 0.4, tuple(p.shape)).astype(np.float32)))
x = torch.from_numpy(rng.standard_normal((5, 6)).astype(np.float32))


def grads(run):
    model.zero_grad()
    inp = x.clone().requires_grad_()
    out = run(inp)
    out.pow(2).sum().backward()
    return out, inp.grad, [p.grad.clone() for p in model.parameters()]


ref = grads(model)
for use_reentrant in (True, False):
    got = grads(lambda t, r=use_reentrant: cp.checkpoint(model, t, use_reentrant=r))
    print(
        f"checkpoint reentrant={use_reentrant}:",
        torch.allclose(got[0], ref[0]),
        torch.allclose(got[1], ref[1]),
        all(torch.allclose(a, b) for a, b in zip(got[2], ref[2])),
    )
got = grads(lambda t: cp.checkpoint_sequential(model, 2, t, use_reentrant=False))
print(
    "checkpoint_sequential:",
    torch.allclose(got[1], ref[1], atol=1e-6),
    all(torch.allclose(a, b, atol=1e-6) for a, b in zip(got[2], ref[2])),
)
print(
    "checkpoint values:",
    ref[0][0].detach().numpy().round(5).tolist(),
    round(ref[1].abs().sum().item(), 4),
)
model.zero_grad()
out = cp.checkpoint(model, x, use_reentrant=False)
out.sum().backward()
print("parameters only:", out.requires_grad, model[0].weight.grad is not None)
out = cp.checkpoint(model, x, use_reentrant=True)
print("reentrant without input grads:", out.requires_grad)
drop = nn.Dropout(0.5)
z = torch.ones(200, requires_grad=True)
out = cp.checkpoint(lambda t: drop(t) * 3, z, use_reentrant=False)
out.sum().backward()
print("dropout mask replayed:", bool(((out.detach() != 0) == (z.grad != 0)).all()))
