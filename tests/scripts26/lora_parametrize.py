# LoRA fine-tuning as in the "LoRA from scratch" tutorials: (1) a LoRALinear wrapper that
# freezes the pretrained weight and adds (alpha / r) * B @ A with B zero-initialised,
# (2) the parametrization form (register_parametrization of a LoRA module on
# layer.weight, the tutorial that fine-tunes only lora params), training only the LoRA
# matrices, then merging the update into the weight for inference
# (remove_parametrizations with leave_parametrized=True) with identical outputs.
import torch
import torch.nn as nn
import torch.nn.utils.parametrize as parametrize


def fill(p, phase, scale=0.3):
    with torch.no_grad():
        p.copy_(
            torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.71 + phase).view_as(p)
            * scale
        )


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r=2, alpha=4):
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.zeros(r, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        fill(self.lora_A, 5.0)
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling


base = nn.Linear(5, 3)
fill(base.weight, 0.0)
fill(base.bias, 1.0)
x = torch.linspace(-1, 1, 20).view(4, 5)
target = torch.linspace(0, 1, 12).view(4, 3)
lora = LoRALinear(base)
print("zero update at init:", torch.equal(lora(x), base(x)))
print("trainable:", [n for n, p in lora.named_parameters() if p.requires_grad])
opt = torch.optim.SGD([p for p in lora.parameters() if p.requires_grad], lr=0.1)
for step in range(5):
    loss = (lora(x) - target).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    print("wrapper step", step, round(loss.item(), 6))
print("base grad:", base.weight.grad)


class LoRAParametrization(nn.Module):
    def __init__(self, features_in, features_out, rank=2, alpha=4):
        super().__init__()
        self.lora_A = nn.Parameter(torch.zeros((rank, features_out)))
        self.lora_B = nn.Parameter(torch.zeros((features_in, rank)))
        fill(self.lora_A, 3.0)
        self.scale = alpha / rank
        self.enabled = True

    def forward(self, original_weights):
        if self.enabled:
            return (
                original_weights
                + torch.matmul(self.lora_B, self.lora_A).view(original_weights.shape) * self.scale
            )
        return original_weights


net = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 3))
for i, p in enumerate(net.parameters()):
    fill(p, i)
for layer in (net[0], net[2]):
    parametrize.register_parametrization(
        layer, "weight", LoRAParametrization(layer.weight.shape[0], layer.weight.shape[1])
    )
for name, param in net.named_parameters():
    if "lora" not in name:
        param.requires_grad = False
print("lora names:", [n for n, p in net.named_parameters() if p.requires_grad])
print("original frozen:", net[0].parametrizations.weight.original.requires_grad)
before = net(x).detach().clone()
opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=0.05)
for step in range(5):
    loss = (net(x) - target).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    print("param step", step, round(loss.item(), 6))
for layer in (net[0], net[2]):
    layer.parametrizations["weight"][0].enabled = False
print("disabled == original:", torch.allclose(net(x), before))
for layer in (net[0], net[2]):
    layer.parametrizations["weight"][0].enabled = True
tuned = net(x).detach().clone()
for layer in (net[0], net[2]):
    parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
print("merged equal:", torch.allclose(net(x), tuned, atol=1e-6))
print("merged keys:", list(net.state_dict().keys()))
print("merged:", net(x)[0])
