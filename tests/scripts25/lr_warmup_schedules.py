# Learning-rate warmup as transformer training code writes it: a manual linear warmup
# setting param_groups[...]["lr"] each step, LambdaLR with warmup + cosine decay, the
# same with SequentialLR(LinearLR, CosineAnnealingLR), per-group lambdas, get_last_lr,
# the scheduler's state_dict / load_state_dict to resume mid-schedule, and
# OneCycleLR's momentum cycling.
import math

import torch
from torch import nn
from torch.optim.lr_scheduler import CosineAnnealingLR, LambdaLR, LinearLR, OneCycleLR, SequentialLR

model = nn.Linear(2, 1)
base_lr, warmup, total = 0.1, 4, 12
opt = torch.optim.SGD(model.parameters(), lr=base_lr)
manual = []
for step in range(1, total + 1):
    lr = base_lr * min(1.0, step / warmup)
    for g in opt.param_groups:
        g["lr"] = lr
    opt.step()
    manual.append(round(opt.param_groups[0]["lr"], 6))
print("manual warmup:", manual)


def warmup_cosine(step):
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * progress))


opt = torch.optim.AdamW(model.parameters(), lr=base_lr)
sched = LambdaLR(opt, lr_lambda=warmup_cosine)
lrs = []
for _ in range(total):
    opt.step()
    lrs.append(round(sched.get_last_lr()[0], 6))
    sched.step()
print("lambda warmup+cosine:", lrs)
opt = torch.optim.SGD(model.parameters(), lr=base_lr)
seq = SequentialLR(
    opt,
    schedulers=[
        LinearLR(opt, start_factor=0.25, total_iters=warmup),
        CosineAnnealingLR(opt, T_max=total - warmup),
    ],
    milestones=[warmup],
)
lrs = []
for _ in range(total):
    opt.step()
    lrs.append(round(seq.get_last_lr()[0], 6))
    seq.step()
print("sequential:", lrs)
opt = torch.optim.SGD(
    [{"params": [model.weight]}, {"params": [model.bias], "lr": 0.01}], lr=base_lr
)
sched = LambdaLR(opt, lr_lambda=[lambda s: 0.9**s, lambda s: 1.0 / (s + 1)])
for _ in range(3):
    opt.step()
    sched.step()
print("per-group:", [round(v, 6) for v in sched.get_last_lr()], sched.last_epoch)
opt = torch.optim.SGD(model.parameters(), lr=base_lr)
sched = CosineAnnealingLR(opt, T_max=10, eta_min=0.001)
for _ in range(4):
    opt.step()
    sched.step()
state = sched.state_dict()
print("state keys:", sorted(state), state["last_epoch"], state["T_max"])
opt2 = torch.optim.SGD(model.parameters(), lr=base_lr)
opt2.load_state_dict(opt.state_dict())
sched2 = CosineAnnealingLR(opt2, T_max=10, eta_min=0.001)
sched2.load_state_dict(state)
a, b = [], []
for _ in range(3):
    opt.step()
    sched.step()
    opt2.step()
    sched2.step()
    a.append(round(opt.param_groups[0]["lr"], 8))
    b.append(round(opt2.param_groups[0]["lr"], 8))
print("resumed:", a, a == b)
opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
one = OneCycleLR(opt, max_lr=1.0, total_steps=10)
rows = []
for _ in range(10):
    opt.step()
    rows.append((round(opt.param_groups[0]["lr"], 5), round(opt.param_groups[0]["momentum"], 5)))
    one.step()
print("onecycle:", rows)
