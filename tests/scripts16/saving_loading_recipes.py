# The saving and loading recipes: "Saving and loading models for inference" (state_dict
# and the whole model), "Warmstarting model using parameters from a different model"
# (strict=False, missing / unexpected keys, renaming keys), "Saving and loading multiple
# models in one file", and "Saving and loading models across devices" (map_location as a
# string, a torch.device, a dict and a function).
import io
import os
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

rng = np.random.default_rng(9)


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


def fill(model):
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(rng.uniform(-0.1, 0.1, tuple(p.shape)).astype(np.float32)))
    return model


net = fill(Net())
optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
print("Model's state_dict:")
for param_tensor in net.state_dict():
    print(param_tensor, "\t", net.state_dict()[param_tensor].size())
print("Optimizer's state_dict:")
for var_name in optimizer.state_dict():
    print(var_name, "\t", optimizer.state_dict()[var_name])

image = torch.from_numpy(rng.standard_normal((2, 3, 32, 32)).astype(np.float32))
expected = net(image)
tmp = tempfile.mkdtemp()
PATH = os.path.join(tmp, "state_dict_model.pt")
torch.save(net.state_dict(), PATH)
model = Net()
model.load_state_dict(torch.load(PATH, weights_only=True))
model.eval()
print("state_dict reload:", torch.equal(model(image), expected))

PATH = os.path.join(tmp, "entire_model.pt")
torch.save(net, PATH)
model = torch.load(PATH, weights_only=False)
model.eval()
print("entire model reload:", type(model).__name__, torch.equal(model(image), expected))

# Several models in one file
netA, netB = fill(Net()), fill(Net())
optimizerA = optim.SGD(netA.parameters(), lr=0.001, momentum=0.9)
optimizerB = optim.SGD(netB.parameters(), lr=0.001, momentum=0.9)
for net_, opt_ in ((netA, optimizerA), (netB, optimizerB)):
    opt_.zero_grad()
    net_(image).sum().backward()
    opt_.step()
PATH = os.path.join(tmp, "model.tar")
torch.save(
    {
        "modelA_state_dict": netA.state_dict(),
        "modelB_state_dict": netB.state_dict(),
        "optimizerA_state_dict": optimizerA.state_dict(),
        "optimizerB_state_dict": optimizerB.state_dict(),
    },
    PATH,
)
modelA, modelB = Net(), Net()
optimModelA = optim.SGD(modelA.parameters(), lr=0.001, momentum=0.9)
optimModelB = optim.SGD(modelB.parameters(), lr=0.001, momentum=0.9)
checkpoint = torch.load(PATH, weights_only=True)
modelA.load_state_dict(checkpoint["modelA_state_dict"])
modelB.load_state_dict(checkpoint["modelB_state_dict"])
optimModelA.load_state_dict(checkpoint["optimizerA_state_dict"])
optimModelB.load_state_dict(checkpoint["optimizerB_state_dict"])
modelA.eval()
modelB.train()
print("checkpoint keys:", sorted(checkpoint.keys()))
print(
    "models reloaded:",
    torch.equal(modelA(image), netA(image)),
    torch.equal(modelB(image), netB(image)),
)
buf = optimModelA.state_dict()["state"][0]["momentum_buffer"]
print("momentum buffer:", list(buf.shape), round(buf.abs().sum().item(), 4))


# Warmstarting: a model with a different head
class NetB(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.head = nn.Linear(84, 3)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 16 * 5 * 5)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.head(x)


PATH = os.path.join(tmp, "model_a.pt")
torch.save(netA.state_dict(), PATH)
netB2 = NetB()
result = netB2.load_state_dict(torch.load(PATH, weights_only=True), strict=False)
print("missing keys:", result.missing_keys)
print("unexpected keys:", result.unexpected_keys)
print("warm conv1 equal:", torch.equal(netB2.conv1.weight, netA.conv1.weight))
try:
    NetB().load_state_dict(torch.load(PATH, weights_only=True))
    print("strict load: accepted")
except RuntimeError as e:
    print("strict load: RuntimeError", "Missing key(s)" in str(e), "Unexpected key(s)" in str(e))
renamed = {
    k.replace("fc3", "head"): v
    for k, v in torch.load(PATH, weights_only=True).items()
    if not k.startswith("fc3")
}
print("renamed load:", netB2.load_state_dict(renamed, strict=False))
bad = dict(netA.state_dict())
bad["fc3.weight"] = torch.zeros(3, 84)
try:
    Net().load_state_dict(bad)
except RuntimeError as e:
    print("size mismatch:", "size mismatch for fc3.weight" in str(e))

# across devices
device = torch.device("cpu")
PATH = os.path.join(tmp, "dev.pt")
torch.save(netA.state_dict(), PATH)
for map_location in ("cpu", device, {"cuda:0": "cpu"}, lambda storage, loc: storage):
    sd = torch.load(PATH, map_location=map_location, weights_only=True)
    model = Net()
    model.load_state_dict(sd)
    model.to(device)
    print(
        "map_location",
        type(map_location).__name__,
        ":",
        sd["fc1.bias"].device.type,
        torch.equal(model(image), netA(image)),
    )
buffer = io.BytesIO()
torch.save({"epoch": 3, "loss": 0.25, "t": torch.arange(4)}, buffer)
buffer.seek(0)
print("bytes io:", torch.load(buffer))
