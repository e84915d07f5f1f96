# "Automatic differentiation with torch.autograd" and "A gentle introduction to
# torch.autograd": requires_grad, backward, grad accumulation, no_grad, detach, and
# vector-Jacobian products with backward(gradient=...).
import torch

x = torch.ones(5)  # input tensor
y = torch.zeros(3)  # expected output
w = torch.tensor(
    [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6], [-0.7, 0.8, 0.9], [1.0, -1.1, 1.2], [0.3, 0.2, 0.1]],
    requires_grad=True,
)
b = torch.tensor([0.05, -0.05, 0.1], requires_grad=True)
z = torch.matmul(x, w) + b
loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
print("loss:", loss.item())
print("has grad_fn:", z.grad_fn is not None, loss.grad_fn is not None)

loss.backward()
print("w.grad:", w.grad.tolist())
print("b.grad:", b.grad.tolist())

z = torch.matmul(x, w) + b
print("requires_grad:", z.requires_grad)
with torch.no_grad():
    z = torch.matmul(x, w) + b
print("requires_grad under no_grad:", z.requires_grad)

z = torch.matmul(x, w) + b
z_det = z.detach()
print("detached:", z_det.requires_grad)

# Jacobian-vector products
inp = torch.eye(4, 5, requires_grad=True)
out = (inp + 1).pow(2).t()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"First call: {inp.grad.tolist()}")
out.backward(torch.ones_like(out), retain_graph=True)
print(f"Second call: {inp.grad.tolist()}")
inp.grad.zero_()
out.backward(torch.ones_like(out), retain_graph=True)
print(f"Call after zeroing gradients: {inp.grad.tolist()}")

# A gentle introduction: Q = 3a^3 - b^2
a = torch.tensor([2.0, 3.0], requires_grad=True)
b = torch.tensor([6.0, 4.0], requires_grad=True)
Q = 3 * a**3 - b**2
external_grad = torch.tensor([1.0, 1.0])
Q.backward(gradient=external_grad)
print("a.grad:", a.grad.tolist(), (9 * a**2 == a.grad).tolist())
print("b.grad:", b.grad.tolist(), (-2 * b == b.grad).tolist())

x = torch.rand(5, 5)
y = torch.rand(5, 5)
z = torch.rand((5, 5), requires_grad=True)
a = x + y
print(f"Does `a` require gradients?: {a.requires_grad}")
b = x + z
print(f"Does `b` require gradients?: {b.requires_grad}")

# vector-Jacobian product of a non-scalar output
x = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
y = x * 2
while y.data.norm() < 1000:
    y = y * 2
print("y:", y.tolist())
v = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float)
y.backward(v)
print("x.grad:", x.grad.tolist())

# leaf / non-leaf, retain_grad, requires_grad_, torch.autograd.grad
x = torch.tensor([1.0, 2.0, 3.0])
x.requires_grad_()
h = x.sin()
h.retain_grad()
s = (h * h).sum()
s.backward()
print("leaf:", x.is_leaf, h.is_leaf, "h.grad:", h.grad.tolist())
print("x.grad:", x.grad.tolist())
x2 = torch.tensor([0.3, 0.7], requires_grad=True)
(g,) = torch.autograd.grad((x2**3).sum(), x2, create_graph=True)
(g2,) = torch.autograd.grad(g.sum(), x2)
print("grad and second derivative:", g.tolist(), g2.tolist())

# set_grad_enabled and the decorator form of no_grad
torch.set_grad_enabled(False)
print("grad disabled:", (x2 * 2).requires_grad, torch.is_grad_enabled())
torch.set_grad_enabled(True)


@torch.no_grad()
def doubler(t):
    return t * 2


print("decorated:", doubler(x2).requires_grad, (x2 * 2).requires_grad)
