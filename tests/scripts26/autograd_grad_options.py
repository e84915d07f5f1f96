# torch.autograd.grad and Tensor.backward options as the autograd docs describe them:
# grad_outputs for non-scalar outputs, allow_unused (None) and materialize_grads (zeros),
# retain_graph (a second backward through freed buffers raises RuntimeError),
# is_grads_batched (a batch of vector-Jacobian products at once), backward(inputs=[...])
# accumulating into chosen leaves only, create_graph for a second derivative, and
# torch.autograd.backward on a list of tensors with a list of gradients.
import torch

x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
w = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
unused = torch.tensor([4.0], requires_grad=True)

y = x * w
(gx,) = torch.autograd.grad(y, x, grad_outputs=torch.ones_like(y), retain_graph=True)
print("grad_outputs ones:", gx)
gx, gu = torch.autograd.grad(y.sum(), [x, unused], allow_unused=True, retain_graph=True)
print("allow_unused:", gx, gu)
gx, gu = torch.autograd.grad(
    y.sum(), [x, unused], allow_unused=True, materialize_grads=True, retain_graph=True
)
print("materialize:", gu)
try:
    torch.autograd.grad(y.sum(), [x, unused], retain_graph=True)
except RuntimeError as e:
    print("unused error:", str(e))

z = (x.exp() * w).sum()
z.backward()
try:
    z.backward()
except RuntimeError as e:
    print("second backward error:", "Trying to backward through the graph a second time" in str(e))

x.grad = None
w.grad = None
out = x.sin() * w
basis = torch.eye(3)
(batched,) = torch.autograd.grad(out, x, grad_outputs=basis, is_grads_batched=True)
print("batched vjp (jacobian):", batched)

loss = (x * w).pow(2).sum()
loss.backward(inputs=[w])
print("inputs=[w]:", x.grad, w.grad)

x.grad = None
w.grad = None
(g,) = torch.autograd.grad((x**3).sum(), x, create_graph=True)
print("first:", g.tolist(), g.requires_grad)
(g2,) = torch.autograd.grad(g.sum(), x)
print("second:", g2)

a = torch.tensor([1.0, 2.0], requires_grad=True)
b = torch.tensor([3.0, 4.0], requires_grad=True)
torch.autograd.backward([a * 2, (b * b).sum()], [torch.tensor([1.0, 0.5]), None])
print("backward list:", a.grad, b.grad)
print("only scalar implicit:", end=" ")
try:
    (a * b).backward()
except RuntimeError as e:
    print("grad can be implicitly created only for scalar outputs" in str(e))
