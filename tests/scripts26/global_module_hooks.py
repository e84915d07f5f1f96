# Global module hooks from torch.nn.modules.module: register_module_forward_pre_hook,
# register_module_forward_hook and register_module_full_backward_hook fire for every
# module of every model (as debugging / logging tools use them), run before the module's
# own hooks, can replace outputs, and stop when their handles are removed.
import torch
from torch import nn
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
    register_module_full_backward_hook,
)

log = []


def pre_hook(module, args):
    log.append(("pre", type(module).__name__, tuple(args[0].shape)))


def fwd_hook(module, args, output):
    log.append(("fwd", type(module).__name__, tuple(output.shape)))


def bwd_hook(module, grad_input, grad_output):
    log.append(("bwd", type(module).__name__, tuple(grad_output[0].shape)))


model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(torch.linspace(-1, 1, p.numel()).view_as(p) * (i + 1) * 0.5)

h1 = register_module_forward_pre_hook(pre_hook)
h2 = register_module_forward_hook(fwd_hook)
h3 = register_module_full_backward_hook(bwd_hook)
x = torch.linspace(-2, 2, 8).view(2, 4).requires_grad_()
y = model(x)
y.sum().backward()
for entry in log:
    print("event:", *entry)

# a module's own forward hook runs after the global one
order = []
h_local = model[0].register_forward_hook(lambda m, a, o: order.append("local"))
h4 = register_module_forward_hook(lambda m, a, o: order.append("global:" + type(m).__name__))
model[0](torch.ones(1, 4))
print("order:", order)
h_local.remove()
h4.remove()

h1.remove()
h2.remove()
h3.remove()
log.clear()
model(x).sum().backward()
print("after remove:", len(log))

# a global forward hook that returns a value replaces the output
h5 = register_module_forward_hook(lambda m, a, o: o * 0 if isinstance(m, nn.ReLU) else None)
print("replaced:", model(x))
h5.remove()
print("restored:", model(x))
