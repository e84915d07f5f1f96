# nn.Module hooks beyond the basics, as the Module docs describe them: forward pre-hooks
# and forward hooks with_kwargs=True (reading and rewriting keyword arguments), prepend=True
# ordering, always_call=True running even when forward raises, register_full_backward_pre_hook
# scaling grad_output, and hooks returning modified inputs.
import torch
from torch import nn


class Scale(nn.Module):
    def forward(self, x, *, factor=1.0):
        if factor < 0:
            raise ValueError("negative factor")
        return x * factor


m = Scale()
log = []


def pre_kwargs(module, args, kwargs):
    log.append(("pre", kwargs.get("factor")))
    kwargs = dict(kwargs)
    kwargs["factor"] = kwargs.get("factor", 1.0) * 2
    return args, kwargs


def post_kwargs(module, args, kwargs, output):
    log.append(("post", kwargs.get("factor"), output.tolist()))


h1 = m.register_forward_pre_hook(pre_kwargs, with_kwargs=True)
h2 = m.register_forward_hook(post_kwargs, with_kwargs=True)
print("out:", m(torch.tensor([1.0, 2.0]), factor=3.0).tolist())
m.register_forward_pre_hook(lambda mod, args: log.append(("first",)), prepend=True)
m(torch.tensor([1.0]), factor=1.0)
for e in log:
    print("event:", *e)
h1.remove()
h2.remove()

calls = []
m2 = Scale()
m2.register_forward_hook(lambda mod, args, out: calls.append("always"), always_call=True)
m2.register_forward_hook(lambda mod, args, out: calls.append("normal"))
try:
    m2(torch.ones(1), factor=-1.0)
except ValueError as e:
    print("raised:", e)
print("hooks run on error:", calls)

lin = nn.Linear(2, 2)
with torch.no_grad():
    lin.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    lin.bias.zero_()
seen = []


def backward_pre(module, grad_output):
    seen.append(grad_output[0].tolist())
    return (grad_output[0] * 10,)


lin.register_full_backward_pre_hook(backward_pre)
x = torch.tensor([[1.0, -1.0]], requires_grad=True)
lin(x).sum().backward()
print("grad_output seen:", seen)
print("scaled input grad:", x.grad.tolist())
print("scaled weight grad:", lin.weight.grad.tolist())


def replace_input(module, args):
    return (args[0] + 1,)


lin2 = nn.Identity()
lin2.register_forward_pre_hook(replace_input)
print("replaced input:", lin2(torch.zeros(2)).tolist())
