# Sharpness-Aware Minimization written as the popular PyTorch SAM implementation: an
# Optimizer wrapping a base optimizer class, first_step (grad norm over all params with
# torch.norm(torch.stack(...)), e_w = rho * grad / norm saved in self.state[p]["e_w"]),
# second_step restoring the weights and stepping the base optimizer, the closure form of
# step, and the training loop with two forward / backward passes per batch.
import torch
import torch.nn as nn


class SAM(torch.optim.Optimizer):
    def __init__(self, params, base_optimizer, rho=0.05, adaptive=False, **kwargs):
        assert rho >= 0.0, f"Invalid rho, should be non-negative: {rho}"
        defaults = dict(rho=rho, adaptive=adaptive, **kwargs)
        super().__init__(params, defaults)
        self.base_optimizer = base_optimizer(self.param_groups, **kwargs)
        self.param_groups = self.base_optimizer.param_groups
        self.defaults.update(self.base_optimizer.defaults)

    @torch.no_grad()
    def first_step(self, zero_grad=False):
        grad_norm = self._grad_norm()
        for group in self.param_groups:
            scale = group["rho"] / (grad_norm + 1e-12)
            for p in group["params"]:
                if p.grad is None:
                    continue
                self.state[p]["old_p"] = p.data.clone()
                e_w = (torch.pow(p, 2) if group["adaptive"] else 1.0) * p.grad * scale.to(p)
                p.add_(e_w)
        if zero_grad:
            self.zero_grad()

    @torch.no_grad()
    def second_step(self, zero_grad=False):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.data = self.state[p]["old_p"]
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad()

    @torch.no_grad()
    def step(self, closure=None):
        assert closure is not None, (
            "Sharpness Aware Minimization requires closure, but it was not provided"
        )
        closure = torch.enable_grad()(closure)
        self.first_step(zero_grad=True)
        closure()
        self.second_step()

    def _grad_norm(self):
        shared_device = self.param_groups[0]["params"][0].device
        norm = torch.norm(
            torch.stack(
                [
                    ((torch.abs(p) if group["adaptive"] else 1.0) * p.grad)
                    .norm(p=2)
                    .to(shared_device)
                    for group in self.param_groups
                    for p in group["params"]
                    if p.grad is not None
                ]
            ),
            p=2,
        )
        return norm


model = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Linear(6, 2))
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(torch.cos(torch.arange(p.numel(), dtype=torch.float32) * 0.9 + i).view_as(p) * 0.5)
x = torch.linspace(-1, 1, 24).view(8, 3)
y = torch.tensor([0, 1, 1, 0, 1, 0, 0, 1])
criterion = nn.CrossEntropyLoss()
optimizer = SAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.2, momentum=0.9)
print("defaults:", sorted(optimizer.defaults.keys()))
print("shared groups:", optimizer.param_groups is optimizer.base_optimizer.param_groups)
for step in range(4):
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.first_step(zero_grad=True)
    criterion(model(x), y).backward()
    optimizer.second_step(zero_grad=True)
    print("two-pass step", step, "loss:", round(loss.item(), 6))


def closure():
    loss = criterion(model(x), y)
    loss.backward()
    return loss


for step in range(3):
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step(closure)
    optimizer.zero_grad()
    print("closure step", step, "loss:", round(loss.item(), 6))
adaptive = SAM(model.parameters(), torch.optim.SGD, rho=0.5, adaptive=True, lr=0.1)
criterion(model(x), y).backward()
print("adaptive grad norm:", round(adaptive._grad_norm().item(), 6))
print("final weight row:", model[2].weight[0])
