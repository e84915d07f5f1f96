# The "Pruning Tutorial" on its LeNet: inspecting a module's named_parameters /
# named_buffers before and after l1_unstructured pruning of conv1.weight (weight_orig,
# weight_mask, the forward pre-hook), pruning the bias, iterative pruning with
# ln_structured (the PruningContainer history), serialising the pruned state_dict,
# prune.remove, pruning several parameters by module type, and global_unstructured with
# the tutorial's sparsity printout.
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
        x = self.fc3(x)
        return x


def fill(model):
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            k = torch.arange(p.numel(), dtype=torch.float64)
            p.copy_((torch.sin(k * 1.37 + i * 0.5) * 0.2).float().view_as(p))


model = LeNet()
fill(model)
module = model.conv1
print("params before:", [n for n, _ in module.named_parameters()])
print("buffers before:", list(module.named_buffers()))

prune.l1_unstructured(module, name="weight", amount=0.3)
print("params after:", [n for n, _ in module.named_parameters()])
print("buffers after:", [n for n, _ in module.named_buffers()])
print("mask zeros:", int((module.weight_mask == 0).sum()), "of", module.weight_mask.numel())
print("weight is masked:", torch.equal(module.weight, module.weight_orig * module.weight_mask))
print("hooks:", [type(h).__name__ for h in module._forward_pre_hooks.values()])

prune.l1_unstructured(module, name="bias", amount=3)
print("bias mask:", module.bias_mask)

prune.ln_structured(module, name="weight", amount=0.5, n=2, dim=0)
print("channel mask sums:", module.weight_mask.sum(dim=(1, 2, 3)))
for hook in module._forward_pre_hooks.values():
    if hook._tensor_name == "weight":
        break
print("history:", type(hook).__name__, [type(m).__name__ for m in hook])
print("state_dict keys:", list(model.conv1.state_dict().keys()))

prune.remove(module, "weight")
print(
    "after remove:",
    [n for n, _ in module.named_parameters()],
    [n for n, _ in module.named_buffers()],
)
print("zeros kept:", int((module.weight == 0).sum()))

new_model = LeNet()
fill(new_model)
for _name, mod in new_model.named_modules():
    if isinstance(mod, torch.nn.Conv2d):
        prune.l1_unstructured(mod, name="weight", amount=0.2)
    elif isinstance(mod, torch.nn.Linear):
        prune.l1_unstructured(mod, name="weight", amount=0.4)
print("masks:", list(dict(new_model.named_buffers()).keys()))

model = LeNet()
fill(model)
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
total_zero = sum(float(torch.sum(m.weight == 0)) for m, _ in parameters_to_prune)
total = sum(float(m.weight.nelement()) for m, _ in parameters_to_prune)
print(f"Global sparsity: {100.0 * total_zero / total:.2f}%")
x = torch.linspace(0, 1, 2 * 28 * 28).view(2, 1, 28, 28)
print("output:", model(x))
print("is_pruned:", prune.is_pruned(model))
