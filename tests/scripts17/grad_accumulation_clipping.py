# Gradient accumulation with clip_grad_norm_ / clip_grad_value_ (the "zeroing out
# gradients" and AMP recipes' accumulation pattern), nn.utils.get_total_norm and
# clip_grads_with_norm_, and a composed LR schedule: linear warmup then cosine decay
# (SequentialLR of LinearLR + CosineAnnealingLR) and a LambdaLR equivalent.
import math

import torch
import torch.nn as nn
from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, LinearLR, SequentialLR

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 1))
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float32) + i).reshape(p.shape) * 0.4)
X = torch.linspace(-3, 3, 96).reshape(16, 6)
y = (X.sum(1, keepdim=True) * 0.3).sin()
optimizer = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.01)
warmup = LinearLR(optimizer, start_factor=0.1, end_factor=1.0, total_iters=3)
cosine = CosineAnnealingLR(optimizer, T_max=7, eta_min=0.001)
scheduler = SequentialLR(optimizer, schedulers=[warmup, cosine], milestones=[3])
criterion = nn.MSELoss()
accumulation_steps = 4
lrs, norms = [], []
for epoch in range(10):
    optimizer.zero_grad()
    for i in range(accumulation_steps):
        xb = X[i * 4 : (i + 1) * 4]
        yb = y[i * 4 : (i + 1) * 4]
        loss = criterion(model(xb), yb) / accumulation_steps
        loss.backward()
    total_norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    norms.append(round(total_norm.item(), 5))
    optimizer.step()
    lrs.append(round(scheduler.get_last_lr()[0], 6))
    scheduler.step()
    with torch.no_grad():
        full = criterion(model(X), y).item()
    print(f"epoch {epoch} loss {full:.6f}")
print("lrs:", lrs)
print("grad norms:", norms)
print("last_epoch:", scheduler.last_epoch, "state keys:", sorted(scheduler.state_dict())[:3])

# the same warmup + cosine as one LambdaLR
opt2 = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.05)
warm, total = 3, 10


def lr_lambda(step):
    if step < warm:
        return 0.1 + 0.9 * step / warm
    progress = (step - warm) / (total - warm)
    return 0.5 * (1 + math.cos(math.pi * progress))


sched2 = LambdaLR(opt2, lr_lambda)
seen = []
for _ in range(total):
    seen.append(round(opt2.param_groups[0]["lr"], 6))
    opt2.step()
    sched2.step()
print("lambda lrs:", seen)

# clipping details
params = [torch.tensor([3.0, 4.0], requires_grad=True), torch.tensor([12.0], requires_grad=True)]
for p in params:
    p.grad = p.detach().clone()
norm = nn.utils.clip_grad_norm_(params, max_norm=6.5)
print("clip_grad_norm_:", norm.item(), [p.grad.numpy().round(5).tolist() for p in params])
for p in params:
    p.grad = p.detach().clone()
print(
    "inf norm:",
    nn.utils.clip_grad_norm_(params, 1.0, norm_type="inf").item(),
    params[1].grad.tolist(),
)
for p in params:
    p.grad = p.detach().clone()
nn.utils.clip_grad_value_(params, clip_value=3.5)
print("clip_grad_value_:", [p.grad.tolist() for p in params])
grads = [p.detach().clone() for p in params]
total = nn.utils.get_total_norm(grads, norm_type=2.0)
print("get_total_norm:", total.item())
for p in params:
    p.grad = p.detach().clone()
nn.utils.clip_grads_with_norm_(params, max_norm=1.3, total_norm=total)
print("clip_grads_with_norm_:", [p.grad.numpy().round(5).tolist() for p in params])
params[0].grad = torch.tensor([float("nan"), 1.0])
try:
    nn.utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
except RuntimeError:
    print("nonfinite: RuntimeError")
