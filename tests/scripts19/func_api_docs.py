# torch.func API docs examples: grad with argnums tuples and has_aux, grad_and_value,
# vjp with has_aux, jacrev / jacfwd with argnums and has_aux, hessian, vmap with in_dims
# (None, nested tuples), out_dims, chunk_size, vmap over a dict input, composing
# vmap(grad(...)) for batched gradients, and functional_call with a tuple of dicts
# (parameters and buffers) and strict.
import torch
from torch.func import functional_call, grad, grad_and_value, hessian, jacfwd, jacrev, vjp, vmap

x = torch.linspace(-1.0, 1.0, 5)
y = torch.linspace(0.5, 2.0, 5)


def f(x, y):
    return (x.sin() * y.exp()).sum()


gx, gy = grad(f, argnums=(0, 1))(x, y)
print("grad argnums:", gx.numpy().round(5).tolist(), gy.numpy().round(5).tolist())


def f_aux(x):
    out = (x**3).sum()
    return out, {"mean": x.mean(), "sq": x**2}


g, aux = grad(f_aux, has_aux=True)(x)
print("grad has_aux:", g.numpy().round(5).tolist(), round(aux["mean"].item(), 5), aux["sq"].shape)
g, value = grad_and_value(lambda v: (v.cos() ** 2).sum())(x)
print("grad_and_value:", g.numpy().round(5).tolist(), round(value.item(), 5))

out, vjp_fn, aux = vjp(lambda v: (v.exp(), v.sum()), x, has_aux=True)
(vx,) = vjp_fn(torch.ones(5))
print("vjp has_aux:", vx.numpy().round(5).tolist(), round(aux.item(), 5))


def g2(x, y):
    return torch.stack([x[0] * y[1], x[1].sin() + y[0] ** 2, (x * y).sum()])


xs, ys = torch.tensor([0.3, 0.7]), torch.tensor([1.5, -0.5])
jr = jacrev(g2, argnums=(0, 1))(xs, ys)
jf = jacfwd(g2, argnums=(0, 1))(xs, ys)
print("jacrev argnums:", [j.numpy().round(5).tolist() for j in jr])
print("jacfwd agrees:", all(torch.allclose(a, b) for a, b in zip(jr, jf)))
j, aux = jacrev(lambda v: (v.tanh(), v.sum()), has_aux=True)(xs)
print("jacrev has_aux:", j.numpy().round(5).tolist(), round(aux.item(), 5))
print("hessian:", hessian(lambda v: (v**3 * v.roll(1)).sum())(xs).numpy().round(5).tolist())

A = torch.arange(12.0).reshape(3, 4)
B = torch.arange(8.0).reshape(4, 2)
print("vmap in_dims None:", vmap(torch.mv, in_dims=(None, 1))(A, B).numpy().tolist())
batched = vmap(lambda a, b: a * b[0] + b[1], in_dims=(0, (None, 0)))(
    A, (torch.tensor(2.0), torch.arange(3.0))
)
print("vmap nested in_dims:", batched.numpy().tolist())
print("vmap out_dims=1:", vmap(lambda r: r * 2, out_dims=1)(A).shape)
print("vmap chunk_size:", vmap(lambda r: r.sum(), chunk_size=2)(A).tolist())
print(
    "vmap dict:",
    vmap(lambda d: d["a"] + d["b"].sum())({"a": torch.arange(3.0), "b": torch.ones(3, 2)}).tolist(),
)


def loss_fn(w, xi, yi):
    return ((xi @ w - yi) ** 2).mean()


w = torch.tensor([0.5, -0.25, 1.0])
X = torch.linspace(-1, 1, 12).reshape(4, 3)
Y = torch.tensor([0.1, 0.2, -0.3, 0.4])
per_example = vmap(grad(loss_fn), in_dims=(None, 0, 0))(w, X, Y)
print("per-example grads:", per_example.numpy().round(5).tolist())
print("mean equals full grad:", torch.allclose(per_example.mean(0), grad(loss_fn)(w, X, Y)))

model = torch.nn.BatchNorm1d(3)
model.eval()
params = {k: torch.full_like(v, 0.5) for k, v in model.named_parameters()}
buffers = {
    "running_mean": torch.tensor([0.1, 0.2, 0.3]),
    "running_var": torch.tensor([1.0, 4.0, 0.25]),
    "num_batches_tracked": torch.tensor(0),
}
out = functional_call(model, (params, buffers), (X,))
print("functional_call params+buffers:", out.numpy().round(5).tolist())
print("model untouched:", model.weight.tolist(), model.running_var.tolist())
try:
    functional_call(model, {"weight": torch.ones(3)}, (X,), strict=True)
except RuntimeError as e:
    print("strict:", type(e).__name__)
