# Class-imbalance handling as the forums recommend: class counts, inverse-frequency
# sample weights for WeightedRandomSampler (a seeded generator; the drawn indices differ
# between frameworks, their balance does not), replacement=False, class weights for
# CrossEntropyLoss, BCE pos_weight from counts, and a stratified split by hand.
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler

rng = np.random.default_rng(0)
labels = torch.from_numpy(np.repeat([0, 1, 2], [90, 9, 1]))
features = torch.from_numpy(rng.standard_normal((100, 2)).astype(np.float32))
counts = torch.bincount(labels)
print("counts:", counts.tolist())
class_weights = 1.0 / counts.float()
sample_weights = class_weights[labels]
print("sample weights:", sample_weights[[0, 95, 99]], sample_weights.sum())
g = torch.Generator().manual_seed(0)
sampler = WeightedRandomSampler(sample_weights, num_samples=3000, replacement=True, generator=g)
drawn = torch.tensor(list(sampler))
print("sampler len:", len(sampler), drawn.shape, drawn.dtype)
frac = torch.bincount(labels[drawn], minlength=3).float() / len(drawn)
print("rng fractions:", frac.tolist())
print("balanced:", all(abs(v - 1 / 3) < 0.06 for v in frac.tolist()))
print("rng first draws:", drawn[:8].tolist())
no_rep = list(
    WeightedRandomSampler(
        sample_weights,
        num_samples=50,
        replacement=False,
        generator=torch.Generator().manual_seed(1),
    )
)
print("without replacement unique:", len(set(no_rep)) == 50, len(no_rep))
loader = DataLoader(
    TensorDataset(features, labels),
    batch_size=32,
    sampler=WeightedRandomSampler(sample_weights, 96, generator=torch.Generator().manual_seed(2)),
)
sizes = [yb.shape[0] for _, yb in loader]
print("loader batches:", sizes)
ce_weights = counts.sum() / (len(counts) * counts.float())
print("ce weights:", ce_weights)
logits = torch.zeros(4, 3)
target = torch.tensor([0, 1, 2, 2])
print("weighted ce:", torch.nn.functional.cross_entropy(logits, target, weight=ce_weights))
binary = (labels > 0).float()
pos_weight = (binary == 0).sum() / (binary == 1).sum()
print("pos_weight:", pos_weight)
bce = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
print("bce:", bce(torch.zeros(4), torch.tensor([1.0, 0.0, 0.0, 1.0])))
train_idx, val_idx = [], []
for c in range(3):
    idx = (labels == c).nonzero(as_tuple=True)[0]
    n_val = max(1, int(0.2 * len(idx)))
    val_idx.append(idx[:n_val])
    train_idx.append(idx[n_val:])
train_idx, val_idx = torch.cat(train_idx), torch.cat(val_idx)
print(
    "stratified:",
    torch.bincount(labels[train_idx], minlength=3).tolist(),
    torch.bincount(labels[val_idx], minlength=3).tolist(),
)
multi = torch.multinomial(sample_weights, 3000, replacement=True)
multi_frac = torch.bincount(labels[multi], minlength=3).float() / 3000
print("multinomial balanced:", all(abs(v - 1 / 3) < 0.06 for v in multi_frac.tolist()))
