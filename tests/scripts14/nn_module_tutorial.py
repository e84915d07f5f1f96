# "Build the neural network" and "What is torch.nn really?": nn.Module, nn.Sequential,
# parameters, state_dict saved to / loaded from a BytesIO, train() / eval().
import io

import numpy as np
import torch
from torch import nn

device = "cuda" if torch.cuda.is_available() else "cpu"
print(f"Using {device} device")


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 64),
            nn.ReLU(),
            nn.Linear(64, 64),
            nn.ReLU(),
            nn.Linear(64, 10),
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


def deterministic_init(model, seed=0):
    # the same starting weights under any framework: fill them from NumPy
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(
                torch.from_numpy(rng.uniform(-0.1, 0.1, size=tuple(p.shape)).astype(np.float32))
            )


torch.manual_seed(0)
model = NeuralNetwork().to(device)
print("training flag:", model.training)
for name, param in model.named_parameters():
    print(f"Layer: {name} | Size: {tuple(param.size())} | requires_grad: {param.requires_grad}")
print("num params:", sum(p.numel() for p in model.parameters()))
print("children:", [type(c).__name__ for c in model.children()])
print("modules:", [type(m).__name__ for m in model.modules()])
print("rng init weight mean:", model.linear_relu_stack[0].weight.mean().item())
bound = 1 / (28 * 28) ** 0.5
print("init within kaiming bound:", bool(model.linear_relu_stack[0].weight.abs().max() <= bound))

deterministic_init(model)
X = torch.from_numpy(np.random.default_rng(1).random((3, 28, 28), dtype=np.float32))
logits = model(X)
pred_probab = nn.Softmax(dim=1)(logits)
y_pred = pred_probab.argmax(1)
print("logits:", logits.detach().cpu().numpy().round(5).tolist())
print(f"Predicted class: {y_pred.tolist()}")

# layers one by one, as in the tutorial
input_image = X
flat_image = nn.Flatten()(input_image)
print("flat:", list(flat_image.size()))
layer1 = model.linear_relu_stack[0]
hidden1 = layer1(flat_image)
print("hidden1:", list(hidden1.size()), hidden1.sum().item())
hidden1 = nn.ReLU()(hidden1)
print("relu zeros:", int((hidden1 == 0).sum()))

seq_modules = nn.Sequential(nn.Flatten(), layer1, nn.ReLU(), nn.Linear(64, 10))
print("seq len and index:", len(seq_modules), type(seq_modules[-1]).__name__)

# state_dict save/load
sd = model.state_dict()
print("state_dict keys:", list(sd.keys()))
buffer = io.BytesIO()
torch.save(model.state_dict(), buffer)
buffer.seek(0)
model2 = NeuralNetwork()
result = model2.load_state_dict(torch.load(buffer, weights_only=True))
print("load result:", list(result.missing_keys), list(result.unexpected_keys))
print("reloaded equal:", torch.equal(model2(X), model(X)))

# whole-model save is also common
buffer = io.BytesIO()
torch.save(model, buffer)
buffer.seek(0)
model3 = torch.load(buffer, weights_only=False)
print("whole model equal:", torch.allclose(model3(X), logits))

# train / eval with dropout and batchnorm
net = nn.Sequential(
    nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 2)
)
deterministic_init(net, seed=3)
inp = torch.from_numpy(np.random.default_rng(2).standard_normal((6, 8)).astype(np.float32))
net.train()
out_train = net(inp)
print("train flags:", net.training, net[1].training, net[3].training)
print("running_mean after one train step:", net[1].running_mean.numpy().round(6).tolist())
print("num_batches_tracked:", net[1].num_batches_tracked.item())
net.eval()
print("eval flags:", net.training, net[3].training)
with torch.no_grad():
    out1 = net(inp)
    out2 = net(inp)
print("eval output:", out1.numpy().round(5).tolist())
print("eval deterministic:", torch.equal(out1, out2))
print("buffers:", [n for n, _ in net.named_buffers()])


# a custom module with a registered buffer and a ModuleList / ModuleDict
class Mixer(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
        self.heads = nn.ModuleDict({"a": nn.Linear(4, 1), "b": nn.Linear(4, 2)})
        self.register_buffer("scale", torch.tensor(0.5))
        self.bias = nn.Parameter(torch.zeros(4))

    def forward(self, x):
        for layer in self.layers:
            x = torch.tanh(layer(x)) * self.scale + self.bias
        return self.heads["a"](x), self.heads["b"](x)


mix = Mixer()
deterministic_init(mix, seed=5)
print("mixer keys:", list(mix.state_dict().keys()))
a, b = mix(torch.ones(2, 4))
print("mixer out:", a.detach().numpy().round(5).tolist(), b.detach().numpy().round(5).tolist())
mix.requires_grad_(False)
print("frozen:", [p.requires_grad for p in mix.parameters()][:3])
mix.zero_grad()
print("repr first line:", repr(mix).splitlines()[0])
