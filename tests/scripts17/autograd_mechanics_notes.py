# "Autograd mechanics" (docs notes): excluding subgraphs with requires_grad (freezing a
# pretrained part), grad modes (no_grad, enable_grad, set_grad_enabled, inference_mode),
# in-place correctness checks, retain_graph, and leaf tensors.
import torch
import torch.nn as nn

x = torch.randn(5, 5)  # requires_grad=False by default
y = torch.randn(5, 5)  # requires_grad=False by default
z = torch.randn((5, 5), requires_grad=True)
a = x + y
print("a.requires_grad:", a.requires_grad)
b = x + z
print("b.requires_grad:", b.requires_grad)

# freezing the "pretrained" feature extractor, fine-tuning only the new head
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8))
for param in model.parameters():
    param.requires_grad = False
head = nn.Linear(8, 3)
model = nn.ModuleDict({"features": model, "fc": head})
trainable = [n for n, p in model.named_parameters() if p.requires_grad]
print("trainable:", trainable)
optimizer = torch.optim.SGD(model.fc.parameters(), lr=1e-2, momentum=0.9)
inp = torch.linspace(-1, 1, 8).reshape(2, 4)
out = model.fc(model.features(inp))
out.sum().backward()
print(
    "frozen grad is None:",
    model.features[0].weight.grad is None,
    "head grad:",
    model.fc.bias.grad.tolist(),
)
model.requires_grad_(True)
print("requires_grad_ back on:", all(p.requires_grad for p in model.parameters()))

# grad modes
x = torch.tensor([1.0, 2.0], requires_grad=True)
with torch.no_grad():
    y = x * 2
    with torch.enable_grad():
        w = x * 2
print("no_grad:", y.requires_grad, "enable_grad inside:", w.requires_grad)
torch.set_grad_enabled(False)
print("set_grad_enabled(False):", (x * 2).requires_grad, torch.is_grad_enabled())
torch.set_grad_enabled(True)
with torch.set_grad_enabled(False):
    print("as a context:", (x * 2).requires_grad)


@torch.no_grad()
def doubler(t):
    return t * 2


print("decorated:", doubler(x).requires_grad)
with torch.inference_mode():
    inf = x * 3
print("inference_mode:", inf.requires_grad, inf.is_inference(), x.is_inference())
print("inference_mode enabled:", torch.is_inference_mode_enabled())
try:
    inf.requires_grad_(True)
    (inf * x).sum().backward()
    print("inference tensor in autograd: ran")
except RuntimeError:
    print("inference tensor in autograd: RuntimeError")

# in-place correctness checks
a = torch.tensor([0.5, 1.0, 1.5], requires_grad=True)
b = a.sigmoid()
c = b * 2
b.mul_(3)  # sigmoid saved its output; modifying it breaks the backward
try:
    c.sum().backward()
    print("in-place check: no error")
except RuntimeError as e:
    print("in-place check: RuntimeError", "modified by an inplace operation" in str(e))
leaf = torch.ones(2, requires_grad=True)
try:
    leaf.add_(1)
except RuntimeError as e:
    print("leaf in-place: RuntimeError", "leaf Variable that requires grad" in str(e))
with torch.no_grad():
    leaf.add_(1)
print("leaf in no_grad:", leaf.tolist(), leaf.is_leaf)

# retain_graph
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = (x.exp() * x).sum()
y.backward(retain_graph=True)
first = x.grad.clone()
y.backward()
print("accumulated twice:", torch.allclose(x.grad, 2 * first))
try:
    y.backward()
except RuntimeError as e:
    print("third backward: RuntimeError", "second time" in str(e))
print("leaves:", x.is_leaf, y.is_leaf, x.grad_fn is None, y.grad_fn is not None)
non_leaf = x * 2
non_leaf.retain_grad()
non_leaf.sum().backward()
print("retain_grad:", non_leaf.grad.tolist(), non_leaf.retains_grad)
d = x.detach()
print("detach shares data:", d.requires_grad, d.data_ptr() == x.data_ptr())
