# The "What is a state_dict in PyTorch" recipe: the tutorial's Net and an SGD optimizer,
# printing "Model's state_dict:" (names and sizes) and "Optimizer's state_dict:" the way
# the recipe does; then what changes after a step (momentum buffers), load_state_dict's
# returned _IncompatibleKeys, strict=False with a renamed key, and assign=True.
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
        x = self.fc3(x)
        return x


net = Net()
optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)

print("Model's state_dict:")
for param_tensor in net.state_dict():
    print(param_tensor + ":", "\t", net.state_dict()[param_tensor].size())

print("Optimizer's state_dict:")
for var_name in optimizer.state_dict():
    print(var_name + ":", "\t", optimizer.state_dict()[var_name])

with torch.no_grad():
    for i, p in enumerate(net.parameters()):
        k = torch.arange(p.numel(), dtype=torch.float32)
        p.copy_(torch.cos(k * 0.11 + i).view_as(p) * 0.1)
x = torch.linspace(-1, 1, 2 * 3 * 32 * 32).view(2, 3, 32, 32)
loss = net(x).pow(2).mean()
loss.backward()
optimizer.step()
sd = optimizer.state_dict()
print("state keys:", sorted(sd["state"].keys()))
print("state 0 keys:", sorted(sd["state"][0].keys()))
print("momentum shape:", tuple(sd["state"][0]["momentum_buffer"].shape))
print("param_groups params:", sd["param_groups"][0]["params"])

# loading back: the result of load_state_dict
net2 = Net()
result = net2.load_state_dict(net.state_dict())
print("result:", result)
print("missing:", result.missing_keys, "unexpected:", result.unexpected_keys)
print("equal fc3:", torch.equal(net2.fc3.weight, net.fc3.weight))

renamed = {k.replace("fc3", "head"): v for k, v in net.state_dict().items()}
result = net2.load_state_dict(renamed, strict=False)
print("missing strict False:", sorted(result.missing_keys))
print("unexpected strict False:", sorted(result.unexpected_keys))
try:
    net2.load_state_dict(renamed)
except RuntimeError as e:
    print("strict error:", type(e).__name__, "Missing key(s)" in str(e), "Unexpected" in str(e))

# assign=True keeps the given tensors (no copy into the module's own storage)
state = {k: v.clone() for k, v in net.state_dict().items()}
net3 = Net()
net3.load_state_dict(state, assign=True)
print("assigned is same storage:", net3.fc1.weight.data_ptr() == state["fc1.weight"].data_ptr())
print(
    "assigned is Parameter:",
    isinstance(net3.fc1.weight, nn.Parameter),
    net3.fc1.weight.requires_grad,
)
net4 = Net()
net4.load_state_dict(state)
print("copied storage differs:", net4.fc1.weight.data_ptr() != state["fc1.weight"].data_ptr())

opt2 = optim.SGD(net2.parameters(), lr=0.5)
opt2.load_state_dict(optimizer.state_dict())
print("loaded lr:", opt2.param_groups[0]["lr"], opt2.param_groups[0]["momentum"])
print(
    "loaded momentum equal:",
    torch.equal(
        opt2.state[net2.conv1.weight]["momentum_buffer"],
        optimizer.state[net.conv1.weight]["momentum_buffer"],
    ),
)
