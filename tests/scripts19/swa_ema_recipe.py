# Stochastic Weight Averaging and EMA with torch.optim.swa_utils (the SWA blog post /
# docs recipe): AveragedModel, SWALR annealing to swa_lr, switching to SWA after
# swa_start epochs, update_bn recomputing BatchNorm statistics over a loader, the
# n_averaged buffer, and an exponential moving average via get_ema_multi_avg_fn and a
# custom avg_fn; the averaged weights are checked against a running mean by hand.
import numpy as np
import torch
import torch.nn as nn
from torch.optim.swa_utils import SWALR, AveragedModel, get_ema_multi_avg_fn, update_bn
from torch.utils.data import DataLoader, TensorDataset

rng = np.random.default_rng(17)
X = torch.from_numpy(rng.standard_normal((24, 4)).astype(np.float32))
Y = torch.from_numpy((rng.standard_normal(24) > 0).astype(np.int64))
loader = DataLoader(TensorDataset(X, Y), batch_size=8, shuffle=False)

model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(
            torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.59 + i).reshape(p.shape)
            * 0.5
        )
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10)
swa_model = AveragedModel(model)
ema_model = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9))
custom = AveragedModel(model, avg_fn=lambda avg, new, num: 0.5 * avg + 0.5 * new)
swa_start = 3
swa_scheduler = SWALR(optimizer, swa_lr=0.05, anneal_epochs=2, anneal_strategy="cos")
loss_fn = nn.CrossEntropyLoss()
snapshots = []
for epoch in range(6):
    for input, target in loader:
        optimizer.zero_grad()
        loss_fn(model(input), target).backward()
        optimizer.step()
        ema_model.update_parameters(model)
    if epoch > swa_start:
        swa_model.update_parameters(model)
        custom.update_parameters(model)
        snapshots.append([p.detach().clone() for p in model.parameters()])
        swa_scheduler.step()
    else:
        scheduler.step()
    print("epoch", epoch, "lr", round(optimizer.param_groups[0]["lr"], 6))
print("n_averaged:", swa_model.n_averaged.item(), ema_model.n_averaged.item())
by_hand = [torch.stack(ps).mean(0) for ps in zip(*snapshots)]
print(
    "swa is the mean:",
    all(torch.allclose(a, b, atol=1e-6) for a, b in zip(swa_model.module.parameters(), by_hand)),
)
print("swa keys:", list(swa_model.state_dict())[:3])
bn = swa_model.module[1]
before = bn.running_mean.clone()
update_bn(loader, swa_model)
print("update_bn changed stats:", not torch.equal(before, bn.running_mean))
print("bn stats:", bn.running_mean.numpy().round(5).tolist(), bn.momentum)
swa_model.eval()
with torch.no_grad():
    print("swa logits:", swa_model(X[:2]).numpy().round(5).tolist())
    print("ema weight:", ema_model.module[0].weight[0].numpy().round(5).tolist())
    print("custom weight:", custom.module[0].weight[0].numpy().round(5).tolist())
