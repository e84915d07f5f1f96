# Device-agnostic code and reproducibility: model.to(device), tensor.to(device),
# torch.manual_seed giving the same stream twice, torch.no_grad inference, dtype moves.
import torch
import torch.nn as nn

device = "cuda" if torch.cuda.is_available() else "cpu"
print("device type:", torch.device(device).type == device)

torch.manual_seed(42)
a = torch.randn(3, 4)
b = torch.rand(2)
c = torch.randint(0, 10, (5,))
d = torch.randint(10, (5,))
perm = torch.randperm(6)
torch.manual_seed(42)
print(
    "same stream after reseed:",
    torch.equal(a, torch.randn(3, 4)),
    torch.equal(b, torch.rand(2)),
    torch.equal(c, torch.randint(0, 10, (5,))),
)
print(
    "randint shapes/ranges:",
    list(d.shape),
    bool((d >= 0).all() and (d < 10).all()),
    d.dtype,
    sorted(perm.tolist()),
)
print("rng randn:", a[0].tolist())
g = torch.Generator().manual_seed(7)
x1 = torch.randn(3, generator=g)
g.manual_seed(7)
print("generator reproducible:", torch.equal(x1, torch.randn(3, generator=g)))
state = torch.get_rng_state()
r1 = torch.rand(3)
torch.set_rng_state(state)
print("rng state restore:", torch.equal(r1, torch.rand(3)))
print("initial_seed:", torch.initial_seed())

torch.manual_seed(0)
m1 = nn.Linear(4, 2)
torch.manual_seed(0)
m2 = nn.Linear(4, 2)
print("same init under same seed:", torch.equal(m1.weight, m2.weight))

model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
model = model.to(device)
print("param device type:", next(model.parameters()).device.type == torch.device(device).type)
x = torch.ones(3, 4).to(device)
with torch.no_grad():
    y = model(x)
print("no_grad output:", y.requires_grad, list(y.shape), y.device.type == torch.device(device).type)
y_cpu = y.cpu()
print("cpu:", y_cpu.device)
model.to(torch.float64)
print(
    "double model:",
    next(model.parameters()).dtype,
    model(torch.ones(1, 4, dtype=torch.float64)).dtype,
)
model.float()
print("float again:", next(model.parameters()).dtype)
t = torch.tensor([1, 2, 3], device=device)
print(
    "tensor on device:",
    t.device.type == torch.device(device).type,
    t.to("cpu", torch.float32).tolist(),
)
print("is_cuda:", t.is_cuda == (device == "cuda"))
print(
    "is_tensor:", torch.is_tensor(t), torch.is_floating_point(t), torch.is_floating_point(t.float())
)
with torch.inference_mode():
    z = model(torch.ones(2, 4, device=device))
print("inference_mode:", z.requires_grad)
print("default dtype:", torch.get_default_dtype())
torch.set_default_dtype(torch.float64)
print("default dtype now:", torch.tensor([1.0]).dtype, torch.zeros(1).dtype)
torch.set_default_dtype(torch.float32)
print("finfo:", torch.finfo(torch.float32).eps, torch.iinfo(torch.int32).max)
