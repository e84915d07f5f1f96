"""torch.func's transforms on kiln's interpreter stack: vmap, grad, vjp, jvp, jacobians.

``vmap`` pushes a ``BatchTrace`` and ``jvp`` a ``JVPTrace``; ``grad`` and ``vjp`` run the
function with autograd on fresh leaves of the innermost level, so that every combination
nests: ``vmap(grad(f))`` records the tape on batched tensors and runs its VJP rules
batched, ``jacfwd(jacrev(f))`` pushes tangents through a batched backward pass, and under
``kiln.jit`` all of it is traced into one graph.

>>> import kiln
>>> x = kiln.tensor([1.0, 2.0, 3.0])
>>> vmap(grad(lambda v: (v * v).sum()))(x.reshape(3, 1))
tensor([[2.],
        [4.],
        [6.]])
"""

from __future__ import annotations

import functools

from kiln.compiler.primitives import PRIMITIVES as P

from .. import creation, ops
from ..autograd import grad_mode
from ..autograd.tape import grad as autograd_grad
from ..context import current_trace, interpreting, is_grad_enabled
from ..dispatch import bind
from ..tensor import Tensor
from .batching import BatchTensor, BatchTrace, move_dim
from .jvp_rules import DualTensor, JVPTrace
from .pytree import flatten, unflatten

__all__ = [
    "grad",
    "grad_and_value",
    "hessian",
    "jacfwd",
    "jacrev",
    "jvp",
    "vjp",
    "vmap",
]

_RANDOMNESS = ("error", "different", "same")


# ----------------------------------------------------------------------------- vmap


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """``func`` mapped over a dimension of its inputs, as one batched computation.

    ``in_dims``: the mapped dimension of every input (an int, ``None`` for an input shared
    by all examples, or a tuple with one entry per argument, nested like the argument).
    ``randomness``: ``"error"`` (random operations raise), ``"different"`` (independent
    draws per example) or ``"same"`` (one draw shared by all).

    >>> vmap(lambda a, b: a @ b, in_dims=(0, None))(kiln.ones(4, 2, 3), kiln.ones(3)).shape
    kiln.Size([4, 2])
    """
    if randomness not in _RANDOMNESS:
        raise ValueError(f"vmap: randomness must be one of {_RANDOMNESS}, got {randomness!r}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"vmap: chunk_size must be a positive int or None, got {chunk_size!r}")

    @functools.wraps(func)
    def batched(*args, **kwargs):
        if chunk_size is not None:
            return _chunked(func, in_dims, out_dims, randomness, chunk_size, args, kwargs)
        return _vmap_call(func, in_dims, out_dims, randomness, args, kwargs)

    return batched


def _chunked(func, in_dims, out_dims, randomness, chunk_size, args, kwargs):
    """vmap over at most ``chunk_size`` examples at a time (less memory), concatenated."""
    leaves, spec, dims = _tree_dims(in_dims, args, "in_dims")
    sizes = {x.shape[d] for x, d in zip(leaves, dims) if d is not None and isinstance(x, Tensor)}
    size = sizes.pop() if len(sizes) == 1 else None
    if size is None or size <= chunk_size:
        return _vmap_call(func, in_dims, out_dims, randomness, args, kwargs)
    parts = []
    for start in range(0, size, chunk_size):
        stop = min(start + chunk_size, size)
        chunk = [
            x if d is None else ops.slice_axis(x, d % x.ndim, start, stop)
            for x, d in zip(leaves, dims)
        ]
        parts.append(
            _vmap_call(func, in_dims, out_dims, randomness, unflatten(spec, chunk), kwargs)
        )
    out_leaves = [flatten(p)[0] for p in parts]
    out_spec = flatten(parts[0])[1]
    out_dim_leaves = _tree_dims(out_dims, parts[0], "out_dims")[2]
    joined = []
    for k, d in enumerate(out_dim_leaves):
        pieces = [p[k] for p in out_leaves]
        joined.append(pieces[0] if d is None else ops.cat(pieces, d))
    return unflatten(out_spec, joined)


def _tree_dims(dims, tree, what):
    """One entry of ``dims`` per leaf of ``tree`` (an int or None applies to all leaves)."""
    leaves, spec = flatten(tree)
    if dims is None or isinstance(dims, int):
        return leaves, spec, [dims] * len(leaves)
    dim_leaves, dim_spec = flatten(dims, is_leaf=lambda d: d is None or isinstance(d, int))
    if len(dim_leaves) == len(leaves) and dim_spec == spec:
        return leaves, spec, dim_leaves
    # a prefix: each entry covers a whole sub-tree
    if (
        isinstance(dims, (tuple, list))
        and isinstance(tree, (tuple, list))
        and len(dims) == len(tree)
    ):
        out = []
        for d, sub in zip(dims, tree):
            out.extend(_tree_dims(d, sub, what)[2])
        return leaves, spec, out
    raise ValueError(
        f"vmap: {what}={dims!r} is not compatible with the structure of the "
        f"{'inputs' if what == 'in_dims' else 'outputs'}"
    )


def _vmap_call(func, in_dims, out_dims, randomness, args, kwargs):
    if not isinstance(in_dims, (int, tuple)) and in_dims is not None:
        raise ValueError(f"vmap: in_dims must be an int, None or a tuple, got {in_dims!r}")
    if isinstance(in_dims, tuple) and len(in_dims) != len(args):
        raise ValueError(
            f"vmap: in_dims={in_dims!r} has {len(in_dims)} entries but the function got "
            f"{len(args)} positional arguments"
        )
    leaves, spec, dims = _tree_dims(
        in_dims if isinstance(in_dims, tuple) else in_dims, args, "in_dims"
    )
    size = None
    norm = []
    for x, d in zip(leaves, dims):
        if d is None:
            norm.append(None)
            continue
        if not isinstance(x, Tensor):
            raise ValueError(
                f"vmap: got in_dim={d} for an input of type {type(x).__name__}, but only "
                "tensors can be mapped over (use None for it)"
            )
        if not -x.ndim <= d < max(x.ndim, 1) or x.ndim == 0:
            raise ValueError(
                f"vmap: in_dim={d} is out of range for an input of shape {list(x.shape)}"
            )
        d = d % x.ndim
        n = x.shape[d]
        if size is None:
            size = n
        elif n != size:
            raise ValueError(
                "vmap: Expected all tensors to have the same size in the mapped dimension, "
                f"got sizes {size} and {n} for the mapped dimension"
            )
        norm.append(d)
    if size is None:
        raise ValueError("vmap: at least one input must be batched (in_dims all None)")
    trace = BatchTrace(current_trace(), size, randomness)
    wrapped = [x if d is None else BatchTensor(trace, x, d) for x, d in zip(leaves, norm)]
    with interpreting(trace):
        out = func(*unflatten(spec, wrapped), **kwargs)
    _write_back(trace, leaves, wrapped, norm)
    return _unbatch(trace, out, out_dims)


def _write_back(trace, leaves, wrapped, dims):
    """In-place updates of a batched input reach the caller's tensor."""
    for x, w, d in zip(leaves, wrapped, dims):
        if d is not None and (w._val is not x or w._bdim != d):
            with interpreting(trace.parent):
                x.copy_(move_dim(w._val, w._bdim, d) if w._bdim is not None else w._val)


def _unbatch(trace, out, out_dims):
    leaves, spec, dims = _tree_dims(out_dims, out, "out_dims")
    result = []
    with interpreting(trace.parent):
        for x, d in zip(leaves, dims):
            if not isinstance(x, Tensor):
                raise ValueError(
                    f"vmap: the function must return tensors, got a {type(x).__name__}"
                )
            val, bdim = trace.unwrap(x)
            if d is None:
                if bdim is not None:
                    raise ValueError(
                        "vmap: out_dims=None for an output that differs between the examples"
                    )
                result.append(val)
                continue
            if bdim is None:
                val = bind(P["reshape"], (val,), {"shape": (1, *val.shape)})
                val = bind(P["expand"], (val,), {"shape": (trace.size, *val.shape[1:])})
                bdim = 0
            ndim = val.ndim
            if not -ndim <= d < ndim:
                raise ValueError(f"vmap: out_dim={d} is out of range for a {ndim}-d output")
            result.append(move_dim(val, bdim, d % ndim))
    return unflatten(spec, result)


# ---------------------------------------------------------------------- reverse mode


def _carries_grad(x) -> bool:
    """Whether an enclosing autograd computation differentiates through ``x``."""
    while True:
        if x.requires_grad:
            return True
        if type(x) is BatchTensor:
            x = x._val
        elif type(x) is DualTensor:
            if x._tangent is not None and _carries_grad(x._tangent):
                return True
            x = x._primal
        else:
            return False


def _fresh_input(x, what):
    """A tensor of the innermost level that autograd can differentiate with respect to."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{what}: expected tensors to differentiate, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        raise TypeError(f"{what}: can only differentiate floating point tensors, got {x.dtype}")
    if x.requires_grad:
        # differentiated by an enclosing computation too: an alias keeps that history
        return bind(P["reshape"], (x,), {"shape": tuple(x.shape)})
    top = current_trace()
    lift = getattr(top, "lift", None)
    fresh = lift(x) if lift is not None else x.detach()
    fresh._requires_grad = True  # a new tensor nobody captured: no metadata epoch to bump
    return fresh


def _prepare(func, args, argnums, what):
    if isinstance(argnums, int):
        positions, single = (argnums,), True
    else:
        positions, single = tuple(argnums), False
        if not positions:
            raise ValueError(f"{what}: argnums must be non-empty")
    args = list(args)
    for p in positions:
        if not -len(args) <= p < len(args):
            raise ValueError(
                f"{what}: got argnums={argnums!r} but the function got only {len(args)} "
                "positional arguments"
            )
    positions = tuple(p % len(args) for p in positions)
    trees = []
    all_leaves = []
    for p in positions:
        leaves, spec = flatten(args[p])
        fresh = [_fresh_input(x, what) for x in leaves]
        args[p] = unflatten(spec, fresh)
        trees.append((spec, len(fresh)))
        all_leaves.extend(zip(leaves, fresh))
    create = is_grad_enabled() and any(_carries_grad(x) for x, _ in all_leaves)
    return args, trees, [f for _, f in all_leaves], single, create


def _regroup(grads, trees, single):
    out, start = [], 0
    for spec, n in trees:
        out.append(unflatten(spec, list(grads[start : start + n])))
        start += n
    return out[0] if single else tuple(out)


def _differentiate(outputs, inputs, cotangents, create):
    needed = [(o, c) for o, c in zip(outputs, cotangents) if o.requires_grad]
    if not needed:
        return [creation.zeros_like(x) for x in inputs]
    return autograd_grad(
        [o for o, _ in needed],
        inputs,
        grad_outputs=[c for _, c in needed],
        retain_graph=True,
        create_graph=create,
        allow_unused=True,
        materialize_grads=True,
    )


def _scalar(value, what):
    if not isinstance(value, Tensor):
        raise RuntimeError(f"{what}: expected f(*args) to return a Tensor, got {type(value)}")
    if value.numel() != 1:
        raise RuntimeError(
            f"{what}: expected f(*args) to return a scalar Tensor, got a tensor of shape "
            f"{list(value.shape)}"
        )
    if not value.dtype.is_floating_point:
        raise RuntimeError(f"{what}: expected a floating point output, got {value.dtype}")


def grad_and_value(func, argnums=0, has_aux=False):
    """``(gradient, value)`` of a scalar ``func`` w.r.t. argument(s) ``argnums``
    (``((gradient), (value, aux))`` with ``has_aux``)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        args, trees, inputs, single, create = _prepare(func, args, argnums, "grad")
        with grad_mode.enable_grad():
            out = func(*args, **kwargs)
            if has_aux:
                if not (isinstance(out, tuple) and len(out) == 2):
                    raise RuntimeError(
                        "grad_and_value(f)(*args): output of function f should be a tuple: "
                        "(output, aux) if has_aux is True"
                    )
                value, aux = out
            else:
                value, aux = out, None
            _scalar(value, "grad_and_value(f)(*args)")
            grads = _differentiate([value], inputs, [creation.ones_like(value)], create)
        grads = _regroup(grads, trees, single)
        if not create:
            value = value.detach()
        return (grads, (value, aux)) if has_aux else (grads, value)

    return wrapper


def grad(func, argnums=0, has_aux=False):
    """The gradient of a scalar ``func`` w.r.t. argument(s) ``argnums`` (torch.func.grad).

    >>> grad(lambda x: (x ** 3).sum())(kiln.tensor([2.0]))
    tensor([12.])
    """
    both = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        grads, value = both(*args, **kwargs)
        return (grads, value[1]) if has_aux else grads

    return wrapper


def vjp(func, *primals, has_aux=False):
    """``(func(*primals), vjp_fn)``; ``vjp_fn(cotangents)`` gives one gradient per primal
    (cotangents shaped like the output). It can be called many times, and under vmap."""
    args, trees, inputs, _, create = _prepare(func, primals, tuple(range(len(primals))), "vjp")
    with grad_mode.enable_grad():
        out = func(*args)
    aux = None
    if has_aux:
        if not (isinstance(out, tuple) and len(out) == 2):
            raise RuntimeError(
                "vjp(f, *primals): output of function f should be a tuple: (output, aux) "
                "if has_aux is True"
            )
        out, aux = out
    outputs, out_spec = flatten(out)
    for o in outputs:
        if not isinstance(o, Tensor):
            raise RuntimeError(f"vjp(f, *primals): f must return tensors, got {type(o)}")

    def vjp_fn(cotangents):
        cts, ct_spec = flatten(cotangents)
        if ct_spec != out_spec:
            raise RuntimeError(
                "vjp_fn: expected cotangents with the same structure as the output of f"
            )
        for o, c in zip(outputs, cts):
            if tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(
                    f"vjp_fn: a cotangent has shape {list(c.shape)} but the output has shape "
                    f"{list(o.shape)}"
                )
        with grad_mode.enable_grad():
            grads = _differentiate(
                outputs,
                inputs,
                cts,
                create or is_grad_enabled() and any(_carries_grad(c) for c in cts),
            )
        return tuple(_regroup(grads, trees, False))

    shown = out if create else unflatten(out_spec, [o.detach() for o in outputs])
    return (shown, vjp_fn, aux) if has_aux else (shown, vjp_fn)


# ---------------------------------------------------------------------- forward mode


def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """``(func(*primals), J @ tangents)`` in one forward pass (torch.func.jvp).

    >>> jvp(kiln.sin, (kiln.tensor([0.0]),), (kiln.tensor([2.0]),))[1]
    tensor([2.])
    """
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise RuntimeError("jvp(f, primals, tangents): primals and tangents must be tuples")
    p_leaves, p_spec = flatten(tuple(primals))
    t_leaves, t_spec = flatten(tuple(tangents))
    if p_spec != t_spec:
        raise RuntimeError(
            "jvp(f, primals, tangents): Expected primals and tangents to have the same "
            "python structure"
        )
    trace = JVPTrace(current_trace())
    duals = []
    for p, t in zip(p_leaves, t_leaves):
        duals.append(make_dual_of(trace, p, t, "jvp"))
    with interpreting(trace):
        out = func(*unflatten(p_spec, duals))
    aux = None
    if has_aux:
        if not (isinstance(out, tuple) and len(out) == 2):
            raise RuntimeError(
                "jvp(f, primals, tangents): output of function f should be a tuple: "
                "(output, aux) if has_aux is True"
            )
        out, aux = out
    leaves, spec = flatten(out)
    primals_out, tangents_out = [], []
    with interpreting(trace.parent):
        for x in leaves:
            if not isinstance(x, Tensor):
                raise RuntimeError(f"jvp: f must return tensors, got {type(x).__name__}")
            p, t = trace.unwrap(x)
            primals_out.append(p)
            tangents_out.append(creation.zeros_like(p) if t is None else t)
        if has_aux:
            aux_leaves, aux_spec = flatten(aux)
            aux = unflatten(aux_spec, [_primal_of(trace, a) for a in aux_leaves])
    result = (unflatten(spec, primals_out), unflatten(spec, tangents_out))
    return (*result, aux) if has_aux else result


def _primal_of(trace, x):
    return trace.unwrap(x)[0] if isinstance(x, Tensor) else x


def make_dual_of(trace, primal, tangent, what):
    for name, x in (("primal", primal), ("tangent", tangent)):
        if not isinstance(x, Tensor):
            raise RuntimeError(f"{what}: expected the {name} to be a Tensor, got {type(x)}")
    if tuple(primal.shape) != tuple(tangent.shape):
        raise RuntimeError(
            f"{what}: Expected primal and tangent to have the same shape, got "
            f"{list(primal.shape)} and {list(tangent.shape)}"
        )
    if not primal.dtype.is_floating_point:
        raise RuntimeError(f"{what}: Expected a floating point primal, got {primal.dtype}")
    if tangent.dtype is not primal.dtype:
        raise RuntimeError(
            f"{what}: Expected primal and tangent to have the same dtype, got "
            f"{primal.dtype} and {tangent.dtype}"
        )
    return DualTensor(trace, primal, tangent)


# ------------------------------------------------------------------------- jacobians


def _basis(shapes, dtype):
    """Rows of an identity matrix split into one tensor per shape: ``(N, *shape)`` each."""
    sizes = [_numel(s) for s in shapes]
    eye = creation.eye(sum(sizes), dtype=dtype)
    parts, start = [], 0
    for s, n in zip(shapes, sizes):
        part = ops.slice_axis(eye, 1, start, start + n) if len(shapes) > 1 else eye
        parts.append(ops.reshape(part, (sum(sizes), *s)))
        start += n
    return parts


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _diff_args(args, argnums, what):
    single = isinstance(argnums, int)
    positions = (argnums,) if single else tuple(argnums)
    for p in positions:
        if not -len(args) <= p < len(args):
            raise ValueError(
                f"{what}: got argnums={argnums!r} but the function got only {len(args)} "
                "positional arguments"
            )
    return tuple(p % len(args) for p in positions), single


def _with(args, positions, values):
    args = list(args)
    for p, v in zip(positions, values):
        args[p] = v
    return args


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None):
    """The Jacobian of ``func`` by reverse mode: one batched backward pass (vmap of vjp).

    Shape: the output's shape followed by the input's.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        positions, single = _diff_args(args, argnums, "jacrev")

        def partial(*diff):
            return func(*_with(args, positions, diff), **kwargs)

        result = vjp(partial, *[args[p] for p in positions], has_aux=has_aux)
        out, vjp_fn = result[0], result[1]
        outputs, out_spec = flatten(out)
        dtype = outputs[0].dtype
        basis = _basis([tuple(o.shape) for o in outputs], dtype)
        grads = vmap(lambda *cts: vjp_fn(unflatten(out_spec, list(cts))))(*basis)
        inputs = [args[p] for p in positions]
        jac = []
        start = 0
        for o in outputs:
            n = o.numel()
            per_input = []
            for x, g in zip(inputs, grads):
                # an input may be a pytree (a dict of parameters): one Jacobian per leaf
                x_leaves, x_spec = flatten(x)
                g_leaves, _ = flatten(g)
                pieces = [
                    ops.reshape(
                        ops.slice_axis(gl, 0, start, start + n) if len(outputs) > 1 else gl,
                        (*o.shape, *xl.shape),
                    )
                    for xl, gl in zip(x_leaves, g_leaves, strict=True)
                ]
                per_input.append(unflatten(x_spec, pieces))
            start += n
            jac.append(per_input[0] if single else tuple(per_input))
        jac = unflatten(out_spec, jac)
        return (jac, result[2]) if has_aux else jac

    return wrapper


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """The Jacobian of ``func`` by forward mode: one batched JVP (vmap of jvp)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        positions, single = _diff_args(args, argnums, "jacfwd")
        inputs = [args[p] for p in positions]
        for x in inputs:
            if not isinstance(x, Tensor):
                raise TypeError(f"jacfwd: expected tensors to differentiate, got {type(x)}")
        basis = _basis([tuple(x.shape) for x in inputs], inputs[0].dtype)

        def partial(*diff):
            return func(*_with(args, positions, diff), **kwargs)

        def push(*tangents):
            result = jvp(partial, tuple(inputs), tangents, has_aux=has_aux)
            return (result[1], result[2]) if has_aux else result[1]

        pushed = vmap(push, randomness=randomness)(*basis)
        tangents, aux = pushed if has_aux else (pushed, None)
        outs, out_spec = flatten(tangents)
        jac = []
        for t in outs:
            shape = tuple(t.shape[1:])
            moved = move_dim(t, 0, t.ndim - 1) if t.ndim > 1 else t
            per_input, start = [], 0
            for x in inputs:
                n = x.numel()
                piece = ops.slice_axis(moved, moved.ndim - 1, start, start + n)
                per_input.append(ops.reshape(piece, (*shape, *x.shape)))
                start += n
            jac.append(per_input[0] if single else tuple(per_input))
        jac = unflatten(out_spec, jac)
        if has_aux:
            aux_leaves, aux_spec = flatten(aux)
            aux = unflatten(aux_spec, [a[0] if isinstance(a, Tensor) else a for a in aux_leaves])
            return jac, aux
        return jac

    return wrapper


def hessian(func, argnums=0):
    """The Hessian of a scalar ``func``: forward mode over reverse mode."""
    return jacfwd(jacrev(func, argnums), argnums)


def linearize(func, *primals):
    """``(func(*primals), jvp_fn)`` where ``jvp_fn(*tangents)`` is the Jacobian-vector
    product of ``func`` at ``primals`` (torch.func.linearize).

    PyTorch traces ``func`` once and replays the linearized graph; here ``jvp_fn`` runs a
    forward-mode pass of ``func`` at the saved primals each call, so ``func`` must be pure
    (no randomness or side effects), as torch.func requires anyway.

    >>> out, jvp_fn = linearize(kiln.sin, kiln.tensor([0.0]))
    >>> jvp_fn(kiln.tensor([2.0]))
    tensor([2.])
    """
    p_leaves, p_spec = flatten(tuple(primals))
    for p in p_leaves:
        if not isinstance(p, Tensor):
            raise RuntimeError(f"linearize: expected primals to be tensors, got {type(p).__name__}")
    saved = tuple(unflatten(p_spec, [p.detach() for p in p_leaves]))
    out = func(*saved)

    def jvp_fn(*tangents):
        t_leaves, t_spec = flatten(tuple(tangents))
        if t_spec != p_spec:
            raise RuntimeError(
                "linearize: Expected the tangents to have the same python structure as the primals"
            )
        for p, t in zip(p_leaves, t_leaves):
            if not isinstance(t, Tensor):
                raise RuntimeError(
                    f"linearize: expected tangents to be tensors, got {type(t).__name__}"
                )
            if tuple(t.shape) != tuple(p.shape) or t.dtype != p.dtype:
                raise RuntimeError(
                    "linearize: mismatch in the tangent's shape or dtype: expected "
                    f"{p.dtype} {list(p.shape)}, got {t.dtype} {list(t.shape)}"
                )
        return jvp(func, saved, tuple(tangents))[1]

    return out, jvp_fn
