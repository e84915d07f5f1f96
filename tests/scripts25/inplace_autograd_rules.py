# In-place operations and autograd, as the autograd notes and common forum errors show:
# the leaf-variable error of an in-place op on a parameter, updating weights under
# no_grad, the version counter (_version) and the "modified by an inplace operation"
# error, in-place on a non-leaf that is not saved (allowed), .data vs .detach() when
# mutated, relu(inplace=True) in a network, and x += vs x = x + for gradients.
import torch
from torch import nn

w = torch.tensor([1.0, 2.0], requires_grad=True)
try:
    w.add_(1.0)
except RuntimeError as e:
    print("leaf in-place:", type(e).__name__, "leaf Variable that requires grad" in str(e))
with torch.no_grad():
    w.add_(1.0)
print("no_grad update:", w, w.requires_grad, w.is_leaf)
a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
b = a.sigmoid()
print("version before:", b._version)
c = b * 2
b.mul_(2)
print("version after:", b._version)
try:
    (b.sum() + c.sum()).backward()
    print("sigmoid saved output modified: no error")
except RuntimeError as e:
    print("modified saved:", type(e).__name__, "modified by an inplace operation" in str(e))
a.grad = None
d = a * 3
d.add_(1.0)
d.sum().backward()
print("in-place on unsaved non-leaf:", a.grad)
a.grad = None
e = a.exp()
e2 = e * 1
e2.mul_(2)
e2.sum().backward()
print("exp then copy in-place:", a.grad)
p = torch.ones(2, requires_grad=True)
alias = p.data
alias[0] = 5.0
print(".data mutation:", p, p.requires_grad)
q = p.detach()
q[1] = 7.0
print("detach mutation shares:", p)
net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(inplace=True), nn.Linear(3, 1))
with torch.no_grad():
    net[0].weight.copy_(torch.tensor([[1.0, -1.0], [0.5, 0.5], [-1.0, 2.0]]))
    net[0].bias.fill_(0.1)
    net[2].weight.fill_(1.0)
    net[2].bias.zero_()
out = net(torch.tensor([[1.0, 2.0], [-1.0, 0.5]]))
out.sum().backward()
print("relu inplace net:", out.view(-1), net[0].weight.grad)
x = torch.tensor([1.0, 2.0], requires_grad=True)
y = x * 1
y += x
y.sum().backward()
print("+= grad:", x.grad, type(y.grad_fn).__name__)
x.grad = None
y = x * 1
y = y + x
y.sum().backward()
print("= + grad:", x.grad)
v = torch.zeros(3)
v[1] = 2.0
v[torch.tensor([0, 2])] += 1.0
print("index in-place:", v, v._version)
s = torch.zeros(2, 2)
row = s[0]
row.fill_(3.0)
print("view in-place shares:", s, s._version == row._version)
z = torch.tensor([1.0, 2.0], requires_grad=True)
zz = z.clone()
zz[0] = zz[1] * 3
zz.sum().backward()
print("setitem grad:", z.grad, type(zz.grad_fn).__name__)
print("setitem repr:", zz)
k = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
m = k.clone()
m.clamp_(min=0).mul_(2)
m.sum().backward()
print("chained in-place:", k.grad)
