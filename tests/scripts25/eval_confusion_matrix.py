# An evaluation loop as classification tutorials write it: model.eval() and
# torch.no_grad() / inference_mode, accumulating correct counts and losses over a
# DataLoader, a confusion matrix by bincount and by index_put_ accumulate, per-class
# precision / recall / F1, balanced accuracy, and the dropout / batch-norm train vs eval
# difference.
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

rng = np.random.default_rng(0)
C = 4
centers = rng.standard_normal((C, 6)).astype(np.float32) * 2
y_np = rng.integers(0, C, 200)
x_np = centers[y_np] + rng.standard_normal((200, 6)).astype(np.float32)
ds = TensorDataset(torch.from_numpy(x_np), torch.from_numpy(y_np))
model = nn.Sequential(
    nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, C)
)
with torch.no_grad():
    for prm in model.parameters():
        prm.copy_(torch.from_numpy(rng.standard_normal(tuple(prm.shape)).astype(np.float32) * 0.3))
# train without dropout noise so both frameworks agree: eval-mode dropout, train-mode BN
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for epoch in range(3):
    model.train()
    model[3].eval()
    for xb, yb in DataLoader(ds, batch_size=50):
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print("epoch", epoch, round(loss.item(), 5))
print("running stats:", model[1].running_mean[:3], model[1].num_batches_tracked)
model.eval()
print("training flags:", model.training, model[1].training, model[3].training)
correct, total, loss_sum = 0, 0, 0.0
preds, labels = [], []
with torch.no_grad():
    for xb, yb in DataLoader(ds, batch_size=64):
        out = model(xb)
        loss_sum += F.cross_entropy(out, yb, reduction="sum").item()
        pred = out.argmax(dim=1)
        correct += (pred == yb).sum().item()
        total += yb.size(0)
        preds.append(pred)
        labels.append(yb)
print("accuracy:", correct, total, round(100 * correct / total, 2), round(loss_sum / total, 5))
preds, labels = torch.cat(preds), torch.cat(labels)
cm = torch.bincount(labels * C + preds, minlength=C * C).reshape(C, C)
print("confusion:", cm)
cm2 = torch.zeros(C, C, dtype=torch.long)
cm2.index_put_((labels, preds), torch.ones_like(labels), accumulate=True)
print("index_put same:", torch.equal(cm, cm2))
tp = cm.diag().float()
precision = tp / cm.sum(0).clamp(min=1)
recall = tp / cm.sum(1).clamp(min=1)
f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-8)
print("precision:", precision)
print("recall:", recall)
print("f1:", f1, "macro:", f1.mean().item())
print("balanced accuracy:", recall.mean().item())
with torch.inference_mode():
    out = model(ds.tensors[0][:5])
print("inference_mode:", out.requires_grad, out.argmax(1).tolist())
print("is_inference:", out.is_inference())
probs = F.softmax(out, dim=1)
conf, cls = probs.max(1)
print("confidence:", conf, cls)
model.train()
torch.manual_seed(0)
a = model(ds.tensors[0][:8])
b = model(ds.tensors[0][:8])
print("rng train mode differs:", not torch.equal(a, b))
model.eval()
print("eval deterministic:", torch.equal(model(ds.tensors[0][:8]), model(ds.tensors[0][:8])))
