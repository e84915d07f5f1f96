# "Jacobians, Hessians, hvp, vhp, and more: composing function transforms": the
# tutorial's predict(weight, bias, x) = tanh(F.linear), jacobian by rows of vjp versus
# jacrev, argnums=(0, 1), jacfwd agreeing with jacrev, batched Jacobians by
# vmap(jacrev(...)) and by the sum trick (jacrev of the batch sum + movedim), hessian via
# jacfwd(jacrev), and hvp with jvp(grad) checked against the explicit Hessian.
import torch
import torch.nn.functional as F
from torch.func import grad, hessian, jacfwd, jacrev, jvp, vjp, vmap

torch.set_default_dtype(torch.float64)


def predict(weight, bias, x):
    return F.linear(x, weight, bias).tanh()


D = 4
weight = (torch.arange(D * D, dtype=torch.float64).view(D, D) % 5 - 2.0) / 4
bias = torch.linspace(-0.3, 0.3, D)
x = torch.linspace(-1.0, 1.0, D)

_, vjp_fn = vjp(lambda x: predict(weight, bias, x), x)
unit_vectors = torch.eye(D)
jacobian_rows = [vjp_fn(vec)[0] for vec in unit_vectors]
jacobian = torch.stack(jacobian_rows)
print("jacobian rows:", jacobian)

jac2 = jacrev(predict, argnums=2)(weight, bias, x)
print("jacrev equal:", torch.allclose(jac2, jacobian))
ft_jac_weight, ft_jac_bias = jacrev(predict, argnums=(0, 1))(weight, bias, x)
print("weight jac shape:", ft_jac_weight.shape, "bias jac:", ft_jac_bias)
print("jacfwd == jacrev:", torch.allclose(jacfwd(predict, argnums=2)(weight, bias, x), jac2))

batch_size = 3
xb = torch.linspace(-2, 2, batch_size * D).view(batch_size, D)
compute_batch_jacobian = vmap(jacrev(predict, argnums=2), in_dims=(None, None, 0))
batch_jacobian0 = compute_batch_jacobian(weight, bias, xb)
print("batch jac shape:", batch_jacobian0.shape)


def predict_with_output_summed(weight, bias, x):
    return predict(weight, bias, x).sum(0)


batch_jacobian1 = jacrev(predict_with_output_summed, argnums=2)(weight, bias, xb).movedim(1, 0)
print("sum trick equal:", torch.allclose(batch_jacobian0, batch_jacobian1))
print("batch jac[1]:", batch_jacobian1[1])

hess0 = hessian(predict, argnums=2)(weight, bias, x)
hess1 = jacfwd(jacfwd(predict, argnums=2), argnums=2)(weight, bias, x)
hess2 = jacrev(jacrev(predict, argnums=2), argnums=2)(weight, bias, x)
print("hessian shape:", hess0.shape, torch.allclose(hess0, hess1), torch.allclose(hess1, hess2))
print("hessian[0]:", hess0[0])


def hvp(f, primals, tangents):
    return jvp(grad(f), primals, tangents)[1]


def f(x):
    return x.sin().sum()


x = torch.linspace(0.1, 1.0, 5)
tangent = torch.linspace(1.0, -1.0, 5)
result = hvp(f, (x,), (tangent,))
print("hvp:", result)
print("hvp == H @ v:", torch.allclose(result, hessian(f)(x) @ tangent))
