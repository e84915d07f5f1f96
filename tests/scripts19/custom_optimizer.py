# Writing an optimizer the way torch.optim's own are written: an Optimizer subclass with
# defaults, argument checks, __setstate__, @torch.no_grad() step(closure) with
# torch.enable_grad() around the closure, per-parameter state (lazily created
# momentum buffers), per-parameter-group options (a different lr for the classifier),
# add_param_group, state_dict / load_state_dict round trip, and zero_grad.
import io

import torch
import torch.nn as nn
from torch.optim import Optimizer


class SGDMomentumNesterov(Optimizer):
    def __init__(self, params, lr=1e-2, momentum=0.9, weight_decay=0.0, nesterov=False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
        super().__init__(params, defaults)

    def __setstate__(self, state):
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", False)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d_p = p.grad
                if group["weight_decay"] != 0:
                    d_p = d_p.add(p, alpha=group["weight_decay"])
                state = self.state[p]
                if "momentum_buffer" not in state:
                    buf = state["momentum_buffer"] = torch.clone(d_p).detach()
                else:
                    buf = state["momentum_buffer"]
                    buf.mul_(group["momentum"]).add_(d_p)
                if group["nesterov"]:
                    d_p = d_p.add(buf, alpha=group["momentum"])
                else:
                    d_p = buf
                p.add_(d_p, alpha=-group["lr"])
        return loss


class AdaBelief(Optimizer):
    """A second-moment optimizer written as in third-party packages."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-16):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_var"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                exp_avg, exp_avg_var = state["exp_avg"], state["exp_avg_var"]
                exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
                grad_residual = grad - exp_avg
                exp_avg_var.mul_(beta2).addcmul_(grad_residual, grad_residual, value=1 - beta2)
                bias_correction1 = 1 - beta1 ** state["step"]
                bias_correction2 = 1 - beta2 ** state["step"]
                denom = (exp_avg_var.add_(group["eps"]).sqrt() / bias_correction2**0.5).add_(
                    group["eps"]
                )
                p.addcdiv_(exp_avg, denom, value=-group["lr"] / bias_correction1)
        return None


torch.manual_seed(0)
X = torch.linspace(-1, 1, 40).reshape(10, 4)
Y = (X.sum(1, keepdim=True) > 0).float()


def make():
    base = nn.Linear(4, 6)
    head = nn.Linear(6, 1)
    with torch.no_grad():
        for i, p in enumerate([*base.parameters(), *head.parameters()]):
            p.copy_(
                torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.9 + i).reshape(p.shape)
                * 0.5
            )
    return base, head


try:
    SGDMomentumNesterov(nn.Linear(2, 2).parameters(), lr=-1)
except ValueError as e:
    print("invalid lr:", e)

for name in ["sgd", "nesterov", "adabelief"]:
    base, head = make()
    if name == "adabelief":
        opt = AdaBelief(
            [{"params": base.parameters()}, {"params": head.parameters(), "lr": 1e-2}], lr=5e-3
        )
    else:
        opt = SGDMomentumNesterov(
            [{"params": base.parameters()}, {"params": head.parameters(), "lr": 0.05}],
            lr=0.1,
            weight_decay=1e-3,
            nesterov=(name == "nesterov"),
        )
    print(name, "groups:", [(g["lr"], len(g["params"])) for g in opt.param_groups])

    def closure(opt=opt, base=base, head=head):
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(head(torch.tanh(base(X))), Y)
        loss.backward()
        return loss

    for step in range(6):
        loss = opt.step(closure) if name != "adabelief" else (closure(), opt.step())[0]
        if step % 2 == 1:
            print(name, step, round(loss.item(), 6))
    sd = opt.state_dict()
    print(name, "state keys:", sorted(sd["state"][0]), "defaults:", sorted(opt.defaults))
    buf = io.BytesIO()
    torch.save(sd, buf)
    buf.seek(0)
    base2, head2 = make()
    opt2 = type(opt)([{"params": base2.parameters()}, {"params": head2.parameters()}])
    opt2.load_state_dict(torch.load(buf))
    print(name, "loaded lrs:", [g["lr"] for g in opt2.param_groups])

extra = nn.Parameter(torch.ones(3))
opt.add_param_group({"params": [extra], "lr": 0.5})
print("after add_param_group:", len(opt.param_groups), opt.param_groups[-1]["betas"])
(extra * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
opt.step()
print("extra:", [round(v, 5) for v in extra.tolist()])
opt.zero_grad()
print("zero_grad sets None:", extra.grad is None)
