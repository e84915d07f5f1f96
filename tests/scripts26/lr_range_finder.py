# The learning-rate range test ("LR finder", as in fastai / torch-lr-finder): an
# exponentially increasing learning rate via LambdaLR (lr_i = start * (end / start) **
# (i / n)), an exponentially smoothed loss with bias correction, stopping when the loss
# diverges past 4x the best, the model and optimizer restored from deepcopies of their
# state_dicts afterwards, and the suggested lr at the steepest negative gradient
# (numpy.gradient of the smoothed losses), then training from the restored state (no
# momentum left over from the range test).
import copy

import numpy as np
import torch
import torch.nn as nn

rng = np.random.default_rng(0)
X = torch.from_numpy(rng.standard_normal((64, 5)).astype(np.float32))
true_w = torch.tensor([[1.0], [-2.0], [0.5], [0.0], [3.0]])
y = X @ true_w + 0.1 * torch.from_numpy(rng.standard_normal((64, 1)).astype(np.float32))
model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 1))
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.9 + i).view_as(p) * 0.4)
criterion = nn.MSELoss()
start_lr, end_lr, num_iter = 1e-5, 10.0, 40
optimizer = torch.optim.SGD(model.parameters(), lr=start_lr, momentum=0.9)
model_state = copy.deepcopy(model.state_dict())
optim_state = copy.deepcopy(optimizer.state_dict())
scheduler = torch.optim.lr_scheduler.LambdaLR(
    optimizer, lambda i: (end_lr / start_lr) ** (i / num_iter)
)
lrs, losses = [], []
avg_loss, best_loss, beta = 0.0, float("inf"), 0.9
for iteration in range(num_iter):
    idx = torch.arange(iteration * 8 % 64, iteration * 8 % 64 + 8)
    optimizer.zero_grad()
    loss = criterion(model(X[idx]), y[idx])
    loss.backward()
    optimizer.step()
    lrs.append(optimizer.param_groups[0]["lr"])
    avg_loss = beta * avg_loss + (1 - beta) * loss.item()
    smoothed = avg_loss / (1 - beta ** (iteration + 1))
    losses.append(smoothed)
    best_loss = min(best_loss, smoothed)
    scheduler.step()
    if smoothed > 4 * best_loss or not np.isfinite(smoothed):
        break
print("iterations:", len(losses))
print("lrs head:", [f"{lr:.3e}" for lr in lrs[:4]])
print("smoothed head:", [round(l, 4) for l in losses[:6]])
grads = np.gradient(np.array(losses[2:-2]))
suggested = lrs[2 + int(grads.argmin())]
print("suggested lr:", f"{suggested:.3e}")
model.load_state_dict(model_state)
optimizer.load_state_dict(optim_state)
print("restored lr:", optimizer.param_groups[0]["lr"], "initial_lr" in optimizer.param_groups[0])
print("restored weight:", model[0].weight[0])
print("restored state:", len(optimizer.state))
optimizer.param_groups[0]["lr"] = suggested
for step in range(3):
    optimizer.zero_grad()
    loss = criterion(model(X), y)
    loss.backward()
    optimizer.step()
    print("train step", step, "loss:", round(loss.item(), 5))
