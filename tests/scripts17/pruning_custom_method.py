# "Pruning tutorial", second half: iterative pruning (the PruningContainer history),
# global_unstructured over several layers, serializing a pruned model, prune.remove, and
# extending torch.nn.utils.prune with a custom pruning method (FooBarPruningMethod).
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.utils.prune as prune


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3)
        self.conv2 = nn.Conv2d(6, 16, 3)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(-1, int(x.nelement() / x.shape[0]))
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def deterministic_init(model):
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            n = p.numel()
            p.copy_(
                (torch.sin(torch.arange(n, dtype=torch.float64) * 1.7 + i) * 0.5)
                .float()
                .reshape(p.shape)
            )


model = LeNet()
deterministic_init(model)
module = model.conv1
prune.l1_unstructured(module, name="weight", amount=0.3)
prune.ln_structured(module, name="weight", amount=0.5, n=2, dim=0)
print("weight zeros:", int((module.weight == 0).sum()), "of", module.weight.numel())
for hook in module._forward_pre_hooks.values():
    if hook._tensor_name == "weight":
        break
print("hook type:", type(hook).__name__, [type(h).__name__ for h in hook])
print("state_dict keys:", list(model.state_dict().keys())[:4])
prune.remove(module, "weight")
print("after remove:", [n for n, _ in module.named_parameters()], list(module.named_buffers()))

# pruning many parameters of a model
new_model = LeNet()
deterministic_init(new_model)
for _name, m in new_model.named_modules():
    if isinstance(m, torch.nn.Conv2d):
        prune.l1_unstructured(m, name="weight", amount=0.2)
    elif isinstance(m, torch.nn.Linear):
        prune.l1_unstructured(m, name="weight", amount=0.4)
print("masks:", sorted(dict(new_model.named_buffers()).keys()))

# global pruning
model = LeNet()
deterministic_init(model)
parameters_to_prune = (
    (model.conv1, "weight"),
    (model.conv2, "weight"),
    (model.fc1, "weight"),
    (model.fc2, "weight"),
    (model.fc3, "weight"),
)
prune.global_unstructured(parameters_to_prune, pruning_method=prune.L1Unstructured, amount=0.2)
for name in ("conv1", "conv2", "fc1", "fc2", "fc3"):
    w = getattr(model, name).weight
    print(
        f"Sparsity in {name}.weight: {100.0 * float(torch.sum(w == 0)) / float(w.nelement()):.2f}%"
    )
names = ("conv1", "conv2", "fc1", "fc2", "fc3")
zeros = sum(float(torch.sum(getattr(model, n).weight == 0)) for n in names)
elements = sum(getattr(model, n).weight.nelement() for n in names)
print(f"Global sparsity: {100.0 * zeros / elements:.2f}%")
x = torch.linspace(-1, 1, 2 * 28 * 28).reshape(2, 1, 28, 28)
print("pruned output:", model(x).detach().numpy().round(4)[0].tolist())


class FooBarPruningMethod(prune.BasePruningMethod):
    """Prune every other entry in a tensor"""

    PRUNING_TYPE = "unstructured"

    def compute_mask(self, t, default_mask):
        mask = default_mask.clone()
        mask.view(-1)[::2] = 0
        return mask


def foobar_unstructured(module, name):
    FooBarPruningMethod.apply(module, name)
    return module


model = LeNet()
deterministic_init(model)
foobar_unstructured(model.fc3, name="bias")
print("foobar mask:", model.fc3.bias_mask.tolist())
print("is_pruned:", prune.is_pruned(model), prune.is_pruned(LeNet()))
prune.random_unstructured(model.fc3, name="bias", amount=0.0)
print("identity after foobar:", model.fc3.bias_mask.tolist())
prune.identity(model.fc2, "bias")
print("identity mask ones:", bool(model.fc2.bias_mask.eq(1).all()))
