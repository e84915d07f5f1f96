# Saving and resuming a full training state as training scripts do: a checkpoint dict
# with the epoch, the model's, the optimizer's (AdamW with two param groups), the
# scheduler's (OneCycleLR, then CosineAnnealingWarmRestarts) and the GradScaler's state,
# torch.save to an io.BytesIO and torch.load(weights_only=True), resuming in fresh objects;
# the resumed run must equal the uninterrupted run exactly. Also the checkpoint's contents
# (state keys, param_groups, last_epoch, _last_lr).
import io

import numpy as np
import torch
import torch.nn as nn

rng = np.random.default_rng(8)
X = torch.from_numpy(rng.standard_normal((16, 5)).astype(np.float32))
Y = torch.from_numpy(rng.standard_normal((16, 2)).astype(np.float32))


def make():
    model = nn.Sequential(nn.Linear(5, 8), nn.LayerNorm(8), nn.GELU(), nn.Linear(8, 2))
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.copy_(
                torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.5 + i).reshape(p.shape)
                * 0.4
            )
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-2
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=0.05, total_steps=12, pct_start=0.3
    )
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    return model, optimizer, scheduler, scaler


def train(model, optimizer, scheduler, scaler, epochs):
    losses = []
    for _ in epochs:
        for i in range(0, 16, 8):
            optimizer.zero_grad()
            loss = nn.functional.mse_loss(model(X[i : i + 8]), Y[i : i + 8])
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            losses.append(round(loss.item(), 6))
    return losses


full = make()
full_losses = train(*full, range(6))

model, optimizer, scheduler, scaler = make()
first = train(model, optimizer, scheduler, scaler, range(3))
buffer = io.BytesIO()
torch.save(
    {
        "epoch": 3,
        "model_state_dict": model.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
        "scheduler_state_dict": scheduler.state_dict(),
        "scaler_state_dict": scaler.state_dict(),
        "loss": first[-1],
    },
    buffer,
)
print("checkpoint bytes > 0:", buffer.getbuffer().nbytes > 0)
buffer.seek(0)
checkpoint = torch.load(buffer, weights_only=True)
print("keys:", sorted(checkpoint))
opt_sd = checkpoint["optimizer_state_dict"]
print("optimizer state:", sorted(opt_sd["state"]), sorted(opt_sd["state"][0]))
print("param_groups:", [(g["params"], g["weight_decay"]) for g in opt_sd["param_groups"]])
print("step:", opt_sd["state"][0]["step"].item())
sched_sd = checkpoint["scheduler_state_dict"]
print(
    "scheduler:",
    sched_sd["last_epoch"],
    [round(v, 6) for v in sched_sd["_last_lr"]],
    sched_sd["total_steps"],
)

model2, optimizer2, scheduler2, scaler2 = make()
model2.load_state_dict(checkpoint["model_state_dict"])
optimizer2.load_state_dict(checkpoint["optimizer_state_dict"])
scheduler2.load_state_dict(checkpoint["scheduler_state_dict"])
scaler2.load_state_dict(checkpoint["scaler_state_dict"])
start_epoch = checkpoint["epoch"]
model2.train()
second = train(model2, optimizer2, scheduler2, scaler2, range(start_epoch, 6))
print("full:", full_losses)
print("resumed equals full:", first + second == full_losses)
print(
    "weights equal:",
    all(torch.equal(a, b) for a, b in zip(full[0].parameters(), model2.parameters())),
)
print("lr after:", [round(g["lr"], 8) for g in optimizer2.param_groups])

# a second schedule: warm restarts, its state saved mid-cycle
opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=0.001)
lrs = []
for _epoch in range(7):
    opt.step()
    sched.step()
    lrs.append(round(sched.get_last_lr()[0], 6))
state = sched.state_dict()
print("warm restarts:", lrs, state["T_i"], state["T_cur"])
opt3 = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
sched3 = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt3, T_0=3, T_mult=2, eta_min=0.001)
sched3.load_state_dict(state)
opt3.param_groups[0]["lr"] = lrs[-1]
sched3.step()
sched.step()
print("resumed restarts:", round(sched3.get_last_lr()[0], 6), round(sched.get_last_lr()[0], 6))
