# "What is a state_dict in PyTorch", "Warmstarting model using parameters from a different
# model", and the named parameters / buffers API (register_buffer with persistent=False).
import io

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 16 * 5 * 5)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


net = Net()
optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
print("Model's state_dict:")
for param_tensor in net.state_dict():
    print(param_tensor, "\t", net.state_dict()[param_tensor].size())
print("Optimizer's state_dict:")
for var_name in optimizer.state_dict():
    print(var_name)
print("param ids:", optimizer.state_dict()["param_groups"][0]["params"])
print(
    "lr momentum:",
    optimizer.state_dict()["param_groups"][0]["lr"],
    optimizer.state_dict()["param_groups"][0]["momentum"],
)


class NetB(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)
        self.extra = nn.Linear(10, 2)


netA = Net()
with torch.no_grad():
    for i, p in enumerate(netA.parameters()):
        p.fill_(0.01 * (i + 1))
buffer = io.BytesIO()
torch.save(netA.state_dict(), buffer)
buffer.seek(0)
netB = NetB()
result = netB.load_state_dict(torch.load(buffer, weights_only=True), strict=False)
print("warmstart missing:", result.missing_keys, "unexpected:", result.unexpected_keys)
print("copied:", netB.fc3.bias[:3].tolist())
try:
    netB.load_state_dict(netA.state_dict())
except RuntimeError as e:
    print("strict load: RuntimeError", "Missing key(s)" in str(e))
# renaming keys for a different architecture
renamed = {k.replace("fc3", "head"): v for k, v in netA.state_dict().items()}
print("renamed:", [k for k in renamed if k.startswith("head")])
wrong = Net()
bad = dict(netA.state_dict(), **{"fc3.bias": torch.zeros(5)})
try:
    wrong.load_state_dict(bad)
except RuntimeError as e:
    print("size mismatch: RuntimeError", "size mismatch" in str(e))


class RunningStats(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.register_buffer("running_mean", torch.zeros(2))
        self.register_buffer("scratch", torch.ones(2), persistent=False)
        self.register_parameter("scale", nn.Parameter(torch.tensor(2.0)))
        self.register_buffer("nothing", None)

    def forward(self, x):
        self.running_mean.mul_(0.9).add_(0.1 * x.mean(0))
        return self.lin(x) * self.scale


r = RunningStats()
print("named_parameters:", [n for n, _ in r.named_parameters()])
print("named_buffers:", [n for n, _ in r.named_buffers()])
print("state_dict:", list(r.state_dict()))
r(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
print("running_mean:", r.running_mean.tolist(), r.running_mean.requires_grad)
print("get_buffer:", r.get_buffer("scratch").tolist(), r.get_parameter("scale").item())
r.half()
print("half:", r.running_mean.dtype, r.scale.dtype)
print("buffers():", len(list(r.buffers())), "parameters():", len(list(r.parameters())))
try:
    r.register_buffer("lin", torch.zeros(1))
except KeyError as e:
    print("KeyError:", "already exists" in str(e))
