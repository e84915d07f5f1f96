# The torch.autograd docs page and its notes, example by example: backward() of a
# non-scalar with a gradient argument, torch.autograd.grad with create_graph (a
# Hessian-vector product), retain_graph and the error of a second backward, gradient
# accumulation into .grad, retain_grad of a non-leaf, tensor hooks that scale a
# gradient, no_grad / enable_grad / set_grad_enabled as context managers and decorators,
# requires_grad_ and detach, and autograd.functional jacobian / hessian / vjp / jvp.
import torch
from torch.autograd.functional import hessian, jacobian, jvp, vjp

x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = x * x * 2
y.backward(torch.tensor([0.1, 1.0, 0.0001]))
print("vector-jacobian:", x.grad)
x.grad = None
z = (x**3).sum()
(g,) = torch.autograd.grad(z, x, create_graph=True)
print("first:", g)
hvp = torch.autograd.grad(g, x, grad_outputs=torch.ones(3))[0]
print("hvp:", hvp)
a = torch.tensor(2.0, requires_grad=True)
b = a**2
b.backward(retain_graph=True)
b.backward()
print("accumulated:", a.grad)
c = a * 3
c.backward()
try:
    c.backward()
except RuntimeError as e:
    print("second backward:", type(e).__name__, "second time" in str(e))
w = torch.tensor([1.0, -1.0], requires_grad=True)
h = w * 2
h.retain_grad()
out = (h**2).sum()
out.backward()
print("retain_grad:", h.grad, w.grad, h.is_leaf, w.is_leaf)
v = torch.tensor([1.0, 2.0], requires_grad=True)
handle = v.register_hook(lambda grad: grad * 10)
(v * v).sum().backward()
print("hooked grad:", v.grad)
handle.remove()
v.grad = None
(v * v).sum().backward()
print("after remove:", v.grad)
with torch.no_grad():
    n = x * 2
print("no_grad:", n.requires_grad, n.grad_fn)
with torch.no_grad():
    with torch.enable_grad():
        e = x * 2
print("enable_grad inside:", e.requires_grad)
with torch.set_grad_enabled(False):
    s = x * 2
print("set_grad_enabled(False):", s.requires_grad)
torch.set_grad_enabled(True)


@torch.no_grad()
def doubler(t):
    return t * 2


print("decorated:", doubler(x).requires_grad, torch.is_grad_enabled())
d = x.detach()
print("detach shares:", d.data_ptr() == x.data_ptr(), d.requires_grad)
p = torch.zeros(2)
p.requires_grad_()
print("requires_grad_:", p.requires_grad, p.is_leaf, p.grad)
print("grad_fn chain:", type(y.grad_fn).__name__, y.grad_fn.next_functions[0][0].name())
q = x.sum() * 1
print("next functions:", [type(f).__name__ for f, _ in q.grad_fn.next_functions])


def f(t):
    return torch.stack([t[0] * t[1], t[1] ** 2, t.sum()])


inp = torch.tensor([1.0, 2.0])
print("jacobian:", jacobian(f, inp))
print("hessian:", hessian(lambda t: (t**3).sum() + t[0] * t[1], inp))
print("vjp:", vjp(f, inp, torch.ones(3)))
print("jvp:", jvp(f, inp, torch.tensor([1.0, 0.0])))
print("grad of non-requires:", torch.autograd.grad((x * 2).sum(), [x], allow_unused=True))
k = torch.ones(2, requires_grad=True)
print(
    "allow_unused:",
    torch.autograd.grad((k * 2).sum(), [k, torch.ones(1, requires_grad=True)], allow_unused=True),
)
print(
    "materialize:",
    torch.autograd.grad(
        (k * 2).sum(),
        [k, torch.ones(1, requires_grad=True)],
        allow_unused=True,
        materialize_grads=True,
    ),
)
