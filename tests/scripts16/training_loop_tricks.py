# Training-loop recipes: "Zeroing out gradients" (accumulation without zero_grad,
# zero_grad(set_to_none=True) vs False, model.zero_grad), gradient clipping
# (clip_grad_norm_ returning the total norm, norm_type=inf, clip_grad_value_), learning
# rate warmup with LambdaLR (linear warmup then inverse square root), gradient
# accumulation over micro-batches, and early stopping on a validation loss.
import copy

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

rng = np.random.default_rng(12)


def make_model():
    m = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 1))
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.from_numpy(rng.uniform(-0.4, 0.4, tuple(p.shape)).astype(np.float32)))
    return m


X = torch.from_numpy(rng.standard_normal((64, 6)).astype(np.float32))
Y = (X @ torch.arange(1.0, 7.0) / 10).unsqueeze(1) + 0.05 * torch.from_numpy(
    rng.standard_normal((64, 1)).astype(np.float32)
)
Xv = torch.from_numpy(rng.standard_normal((32, 6)).astype(np.float32))
Yv = (Xv @ torch.arange(1.0, 7.0) / 10).unsqueeze(1)
criterion = nn.MSELoss()

# zeroing gradients
net = make_model()
optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
criterion(net(X), Y).backward()
g1 = net[0].weight.grad.clone()
criterion(net(X), Y).backward()
print("accumulates:", torch.allclose(net[0].weight.grad, 2 * g1))
optimizer.zero_grad(set_to_none=False)
print("zero_grad(False):", net[0].weight.grad is not None and net[0].weight.grad.abs().sum().item())
optimizer.zero_grad()
print("zero_grad() default sets None:", net[0].weight.grad is None)
criterion(net(X), Y).backward()
net.zero_grad()
print("model.zero_grad:", net[0].weight.grad is None)
for epoch in range(2):
    running_loss = 0.0
    for i in range(0, 64, 16):
        inputs, labels = X[i : i + 16], Y[i : i + 16]
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    print(f"[{epoch + 1}] loss: {running_loss / 4:.5f}")

# clipping
net = make_model()
criterion(net(X) * 10, Y).backward()
total = torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm=1.0)
after = torch.sqrt(sum(p.grad.pow(2).sum() for p in net.parameters()))
print("clip_grad_norm_ total:", round(total.item(), 4), "after:", round(after.item(), 4))
inf_total = torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm=0.1, norm_type=float("inf"))
print(
    "inf norm:",
    round(inf_total.item(), 5),
    round(max(p.grad.abs().max().item() for p in net.parameters()), 5),
)
torch.nn.utils.clip_grad_value_(net.parameters(), clip_value=0.01)
print("clip_grad_value_:", round(max(p.grad.abs().max().item() for p in net.parameters()), 5))
print(
    "get_total_norm:",
    round(torch.nn.utils.get_total_norm([p.grad for p in net.parameters()]).item(), 5)
    if hasattr(torch.nn.utils, "get_total_norm")
    else "absent",
)

# warmup
net = make_model()
optimizer = optim.AdamW(net.parameters(), lr=1e-2, weight_decay=0.01)
warmup = 5


def lr_lambda(step):
    if step < warmup:
        return float(step + 1) / warmup
    return (warmup / (step + 1)) ** 0.5


scheduler = optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
lrs = []
for step in range(10):  # noqa: B007
    optimizer.zero_grad()
    loss = criterion(net(X), Y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    optimizer.step()
    lrs.append(scheduler.get_last_lr()[0])
    scheduler.step()
print("warmup lrs:", [round(v, 6) for v in lrs])
print("after warmup loss:", round(loss.item(), 5))
print("scheduler state:", scheduler.state_dict()["last_epoch"], scheduler.state_dict()["base_lrs"])
warm = optim.lr_scheduler.LinearLR(
    optim.SGD(net.parameters(), lr=0.1), start_factor=0.1, total_iters=4
)
seq_lrs = []
for _ in range(6):
    seq_lrs.append(round(warm.get_last_lr()[0], 6))
    warm.optimizer.step()
    warm.step()
print("LinearLR warmup:", seq_lrs)

# gradient accumulation
net = make_model()
ref = copy.deepcopy(net)
opt_a = optim.SGD(net.parameters(), lr=0.1)
opt_r = optim.SGD(ref.parameters(), lr=0.1)
accumulation_steps = 4
opt_a.zero_grad()
for i in range(accumulation_steps):
    loss = criterion(net(X[i * 16 : (i + 1) * 16]), Y[i * 16 : (i + 1) * 16]) / accumulation_steps
    loss.backward()
opt_a.step()
opt_r.zero_grad()
criterion(ref(X), Y).backward()
opt_r.step()
print("accumulated == full batch:", torch.allclose(net[0].weight, ref[0].weight, atol=1e-6))


# early stopping
class EarlyStopping:
    def __init__(self, patience=3, min_delta=0.0):
        self.patience = patience
        self.min_delta = min_delta
        self.counter = 0
        self.best_loss = None
        self.early_stop = False
        self.best_state = None

    def __call__(self, val_loss, model):
        if self.best_loss is None or val_loss < self.best_loss - self.min_delta:
            self.best_loss = val_loss
            self.best_state = copy.deepcopy(model.state_dict())
            self.counter = 0
        else:
            self.counter += 1
            if self.counter >= self.patience:
                self.early_stop = True


net = make_model()
optimizer = optim.Adam(net.parameters(), lr=0.2)
stopper = EarlyStopping(patience=3, min_delta=1e-4)
history = []
for epoch in range(60):
    net.train()
    optimizer.zero_grad()
    criterion(net(X), Y).backward()
    optimizer.step()
    net.eval()
    with torch.no_grad():
        val_loss = criterion(net(Xv), Yv).item()
    history.append(round(val_loss, 4))
    stopper(val_loss, net)
    if stopper.early_stop:
        print(f"early stop at epoch {epoch}")
        break
print("val history:", history)
net.load_state_dict(stopper.best_state)
with torch.no_grad():
    print("best val loss:", round(criterion(net(Xv), Yv).item(), 5), round(stopper.best_loss, 5))
