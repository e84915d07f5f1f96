# "Extending torch.func with autograd.Function": Functions written in the separate
# forward / setup_context style so torch.func can transform them: a NumPy-backed
# NumpyTake / NumpySort pair with ctx.save_for_backward and ctx.mark_non_differentiable,
# generate_vmap_rule = True (MyCube) and a hand-written vmap staticmethod (NumpySort's),
# used under torch.func.grad, vmap, jacrev and a jvp staticmethod with save_for_forward.
import numpy as np
import torch
from torch.func import grad, jacrev, jvp, vmap


def to_numpy(tensor):
    return tensor.detach().cpu().numpy()


class NumpyTake(torch.autograd.Function):
    @staticmethod
    def forward(x, ind, ind_inv, dim):
        device = x.device
        x = to_numpy(x)
        ind = to_numpy(ind)
        return torch.tensor(np.take(x, ind, axis=dim), device=device)

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, ind, ind_inv, dim = inputs
        ctx.save_for_backward(ind, ind_inv)
        ctx.dim = dim

    @staticmethod
    def backward(ctx, grad_output):
        ind, ind_inv = ctx.saved_tensors
        result = NumpyTake.apply(grad_output, ind_inv, ind, ctx.dim)
        return result, None, None, None

    @staticmethod
    def vmap(info, in_dims, x, ind, ind_inv, dim):
        x_bdim, ind_bdim, ind_inv_bdim, _ = in_dims
        logical_dim = x.dim() if x_bdim is None else x_bdim - 1
        dim = dim if dim >= 0 else dim + logical_dim
        x = x.movedim(x_bdim, 0) if x_bdim is not None else x.expand(info.batch_size, *x.shape)
        ind = (
            ind.movedim(ind_bdim, 0)
            if ind_bdim is not None
            else ind.expand(info.batch_size, *ind.shape)
        )
        ind_inv = (
            ind_inv.movedim(ind_inv_bdim, 0)
            if ind_inv_bdim is not None
            else ind_inv.expand(info.batch_size, *ind_inv.shape)
        )
        return torch.stack(
            [NumpyTake.apply(x[i], ind[i], ind_inv[i], dim) for i in range(info.batch_size)]
        ), 0


class NumpySort(torch.autograd.Function):
    @staticmethod
    def forward(x, dim):
        device = x.device
        x = to_numpy(x)
        ind = np.argsort(x, axis=dim)
        ind_inv = np.argsort(ind, axis=dim)
        result = np.take_along_axis(x, ind, axis=dim)
        return (
            torch.tensor(result, device=device),
            torch.tensor(ind, device=device),
            torch.tensor(ind_inv, device=device),
        )

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, dim = inputs
        _, ind, ind_inv = output
        ctx.mark_non_differentiable(ind, ind_inv)
        ctx.save_for_backward(ind, ind_inv)
        ctx.dim = dim

    @staticmethod
    def backward(ctx, grad_output, _0, _1):
        ind, ind_inv = ctx.saved_tensors
        return NumpyTake.apply(grad_output, ind_inv, ind, ctx.dim), None


def numpy_sort(x, dim=-1):
    result, _, _ = NumpySort.apply(x, dim)
    return result


x = torch.tensor([0.3, -1.2, 2.5, 0.7])
print("sorted:", numpy_sort(x))
weights = torch.tensor([1.0, 2.0, 3.0, 4.0])
g = grad(lambda x: (numpy_sort(x) * weights).sum())(x)
print("grad:", g)
xt = x.clone().requires_grad_()
srt, ind, ind_inv = NumpySort.apply(xt, 0)
print("ind requires_grad:", ind.requires_grad, srt.requires_grad)
(srt * weights).sum().backward()
print("backward:", xt.grad)


class MyCube(torch.autograd.Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        result = x**3
        dx = 3 * x**2
        return result, dx

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        result, dx = output
        ctx.save_for_backward(x, dx)

    @staticmethod
    def backward(ctx, grad_output, grad_dx):
        x, dx = ctx.saved_tensors
        result = grad_output * dx + grad_dx * 6 * x
        return result


def my_cube(x):
    result, _ = MyCube.apply(x)
    return result


xs = torch.tensor([1.0, -2.0, 0.5])
print("vmap cube:", vmap(my_cube)(xs))
print("grad cube:", grad(my_cube)(torch.tensor(2.0)))
print("grad grad cube:", grad(grad(my_cube))(torch.tensor(2.0)))
print("vmap grad cube:", vmap(grad(my_cube))(xs))
print("jacrev cube:", jacrev(my_cube)(xs))


class MySin(torch.autograd.Function):
    @staticmethod
    def forward(x):
        return x.sin()

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)

    @staticmethod
    def backward(ctx, gO):
        (x,) = ctx.saved_tensors
        return gO * x.cos()

    @staticmethod
    def jvp(ctx, x_t):
        (x,) = ctx.saved_tensors
        return x_t * x.cos()


xp = torch.tensor([0.0, 0.5, 1.0])
out, tangent_out = jvp(MySin.apply, (xp,), (torch.ones(3),))
print("jvp:", out, tangent_out)
print("grad sin:", grad(lambda v: MySin.apply(v).sum())(xp))
