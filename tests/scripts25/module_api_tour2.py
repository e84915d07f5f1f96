# nn.Module's everyday API beyond forward: add_module / register_module, get_submodule /
# get_parameter / get_buffer, named_modules with prefixes, children vs modules,
# parameters(recurse=False), .to(dtype) / .double() / .half() on parameters and buffers,
# requires_grad_(False) for freezing, train(False) recursion, __getattr__ errors,
# deleting attributes, __setattr__ of a Parameter, and __dir__ / hasattr checks.
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.fc = nn.Linear(n, n)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("mean", torch.zeros(n))

    def forward(self, x):
        self.steps += 1
        return torch.relu(self.fc(x)) + self.mean


net = nn.Module()
net.add_module("first", Block(3))
net.register_module("second", nn.Sequential(Block(3), nn.Dropout(0.1)))
net.head = nn.Linear(3, 1)
print(net)
print("get_submodule:", net.get_submodule("second.0.fc"))
print("get_parameter:", net.get_parameter("second.0.fc.bias").shape)
print("get_buffer:", net.get_buffer("first.steps"))
print("modules:", [n for n, _ in net.named_modules()])
print("prefix:", [n for n, _ in net.named_modules(prefix="model")][:3])
print("children:", [n for n, _ in net.named_children()], len(list(net.modules())))
print(
    "recurse False:",
    list(dict(net.named_parameters(recurse=False))),
    list(dict(net.head.named_parameters(recurse=False))),
)
print("buffers:", [n for n, _ in net.named_buffers()])
net.double()
print("double:", net.head.weight.dtype, net.first.mean.dtype, net.first.steps.dtype)
net.to(torch.float32)
print("to float32:", net.head.weight.dtype, net.first.mean.dtype, net.first.steps.dtype)
net.half()
print("half:", net.first.fc.weight.dtype, net.first.steps.dtype)
net.float()
net.first.requires_grad_(False)
print("frozen:", [(n, p.requires_grad) for n, p in net.named_parameters()][:3])
net.train(False)
print("train(False):", net.training, net.second[1].training, net.first.training)
net.train()
print("train():", all(m.training for m in net.modules()))
try:
    net.missing  # noqa: B018
except AttributeError as e:
    print("getattr error:", e)
try:
    net.get_submodule("second.7")
except AttributeError as e:
    print("get_submodule error:", type(e).__name__)
del net.head
print("deleted:", hasattr(net, "head"), [n for n, _ in net.named_children()])
net.scale = nn.Parameter(torch.ones(1))
print("param attr:", "scale" in dict(net.named_parameters()))
net.scale = nn.Parameter(torch.full((1,), 2.0))
print("replaced:", net.scale.item(), len(list(net.parameters())))
try:
    net.scale = torch.ones(1)
except TypeError as e:
    print("assign tensor to param:", type(e).__name__)
net.plain = torch.ones(1)
print(
    "plain tensor attr:",
    "plain" in dict(net.named_parameters()),
    "plain" in dict(net.named_buffers()),
)
x = torch.ones(2, 3)
net.first(x)
net.first(x)
print("buffer updated in forward:", net.first.steps.item())
print("dir has:", "first" in dir(net), "fc" in dir(net.first))
print("state keys:", list(net.state_dict()))
print("extra_repr default:", repr(net.first.fc.extra_repr()), repr(nn.ReLU().extra_repr()))
print(
    "type:", type(net.first).__name__, isinstance(net.second, nn.Sequential), net.second._get_name()
)
