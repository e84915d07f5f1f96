# "Saving and loading a general checkpoint": save a dict with the epoch, the model's and
# the optimizer's state_dicts and the loss; load it into fresh objects and resume. The
# resumed run must match an uninterrupted one exactly.
import io

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2, 2)
        self.fc1 = nn.Linear(4 * 3 * 3, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        x = self.pool(F.relu(self.bn(self.conv1(x))))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


def make():
    net = Net()
    rng = np.random.default_rng(0)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(
                torch.from_numpy(rng.uniform(-0.3, 0.3, size=tuple(p.shape)).astype(np.float32))
            )
    return net


rng = np.random.default_rng(1)
X = torch.from_numpy(rng.standard_normal((16, 1, 8, 8)).astype(np.float32))
Y = torch.from_numpy(rng.integers(0, 3, size=16))


def train(net, optimizer, scheduler, epochs):
    losses = []
    for _ in range(epochs):
        for i in range(0, 16, 8):
            optimizer.zero_grad()
            loss = F.cross_entropy(net(X[i : i + 8]), Y[i : i + 8])
            loss.backward()
            optimizer.step()
            losses.append(round(loss.item(), 6))
        scheduler.step()
    return losses


for opt_name in ("SGD", "Adam", "RMSprop"):
    net = make()
    if opt_name == "SGD":
        optimizer = optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    elif opt_name == "Adam":
        optimizer = optim.Adam(net.parameters(), lr=0.01)
    else:
        optimizer = optim.RMSprop(net.parameters(), lr=0.005, momentum=0.5)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    first = train(net, optimizer, scheduler, 3)
    EPOCH = 3
    LOSS = first[-1]
    buffer = io.BytesIO()
    torch.save(
        {
            "epoch": EPOCH,
            "model_state_dict": net.state_dict(),
            "optimizer_state_dict": optimizer.state_dict(),
            "scheduler_state_dict": scheduler.state_dict(),
            "loss": LOSS,
        },
        buffer,
    )
    rest = train(net, optimizer, scheduler, 2)
    print(f"{opt_name} uninterrupted: {first + rest}")

    buffer.seek(0)
    model = Net()
    optimizer2 = (
        optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        if opt_name == "SGD"
        else optim.Adam(model.parameters(), lr=0.01)
        if opt_name == "Adam"
        else optim.RMSprop(model.parameters(), lr=0.005, momentum=0.5)
    )
    scheduler2 = optim.lr_scheduler.StepLR(optimizer2, step_size=2, gamma=0.5)
    checkpoint = torch.load(buffer, weights_only=True)
    model.load_state_dict(checkpoint["model_state_dict"])
    optimizer2.load_state_dict(checkpoint["optimizer_state_dict"])
    scheduler2.load_state_dict(checkpoint["scheduler_state_dict"])
    epoch = checkpoint["epoch"]
    loss = checkpoint["loss"]
    print(f"{opt_name} checkpoint: epoch {epoch} loss {loss} lr {optimizer2.param_groups[0]['lr']}")
    state = checkpoint["optimizer_state_dict"]
    keys = sorted(state.keys()), sorted(state["state"][0].keys())
    print(f"{opt_name} optimizer state keys: {keys[0]} {keys[1]}")
    print(f"{opt_name} param_groups params: {state['param_groups'][0]['params']}")
    model.train()
    resumed = train(model, optimizer2, scheduler2, 2)
    print(f"{opt_name} resumed: {resumed}")
    print(f"{opt_name} resumed == uninterrupted: {resumed == rest}")

# saving multiple models in one file, and loading a partial state dict (warmstarting)
netA, netB = make(), make()
buffer = io.BytesIO()
torch.save({"modelA_state_dict": netA.state_dict(), "modelB_state_dict": netB.state_dict()}, buffer)
buffer.seek(0)
ck = torch.load(buffer)
print("multi keys:", list(ck.keys()), len(ck["modelA_state_dict"]))


class Bigger(Net):
    def __init__(self):
        super().__init__()
        self.extra = nn.Linear(3, 2)


big = Bigger()
res = big.load_state_dict(netA.state_dict(), strict=False)
print("strict=False missing:", res.missing_keys, "unexpected:", res.unexpected_keys)
print("warmstart copied:", torch.equal(big.fc1.weight, netA.fc1.weight))
try:
    big.load_state_dict(netA.state_dict())
except RuntimeError as e:
    print("strict load error:", type(e).__name__, "Missing key(s)" in str(e))
bad = dict(netA.state_dict())
bad["fc2.weight"] = torch.zeros(5, 5)
try:
    netB.load_state_dict(bad)
except RuntimeError as e:
    print("size mismatch error:", type(e).__name__, "size mismatch" in str(e))
