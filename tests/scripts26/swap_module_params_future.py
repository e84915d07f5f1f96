# "Extension points in nn.Module for load_state_dict and tensor subclasses" recipe:
# torch.__future__'s set_swap_module_params_on_conversion / get_ (and the overwrite
# flag), module.to(dtype) keeping the same Parameter objects (so an optimizer built
# before the conversion still holds them), torch.utils.swap_tensors exchanging two
# tensors' contents and classes, and load_state_dict under the swap flag.
import torch
import torch.nn as nn
from torch.utils import swap_tensors

print("swap default:", torch.__future__.get_swap_module_params_on_conversion())
print("overwrite default:", torch.__future__.get_overwrite_module_params_on_conversion())

m = nn.Linear(3, 2)
with torch.no_grad():
    m.weight.copy_(torch.arange(6.0).view(2, 3) / 10)
    m.bias.fill_(0.5)
weight_before = m.weight
opt = torch.optim.SGD(m.parameters(), lr=0.1)
m.to(torch.float64)
print("plain to: same object:", m.weight is weight_before, m.weight.dtype, weight_before.dtype)

torch.__future__.set_swap_module_params_on_conversion(True)
print("swap now:", torch.__future__.get_swap_module_params_on_conversion())
m2 = nn.Linear(3, 2)
with torch.no_grad():
    m2.weight.copy_(torch.arange(6.0).view(2, 3) / 10)
    m2.bias.fill_(0.5)
w2 = m2.weight
opt2 = torch.optim.SGD(m2.parameters(), lr=0.1)
m2.to(torch.float64)
print("swap to: same object:", m2.weight is w2, w2.dtype, type(w2).__name__)
print("optimizer holds converted:", opt2.param_groups[0]["params"][0].dtype)
out = m2(torch.ones(1, 3, dtype=torch.float64))
out.sum().backward()
opt2.step()
print("after step:", m2.weight)

sd = {
    "weight": torch.full((2, 3), 2.0, dtype=torch.float64),
    "bias": torch.zeros(2, dtype=torch.float64),
}
m2.load_state_dict(sd)
print("loaded under swap:", m2.weight is w2, m2.weight[0].tolist())
torch.__future__.set_swap_module_params_on_conversion(False)
print("swap reset:", torch.__future__.get_swap_module_params_on_conversion())

a = torch.tensor([1.0, 2.0])
b = torch.tensor([[3, 4, 5]])
ref_a = a
swap_tensors(a, b)
print("swapped:", a.tolist(), b.tolist(), ref_a is a, a.dtype, b.dtype)
p = nn.Parameter(torch.ones(2))
t = torch.zeros(2)
swap_tensors(p, t)
print("classes swapped:", type(p).__name__, type(t).__name__)
