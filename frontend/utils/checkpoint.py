"""``kiln.utils.checkpoint``: activation checkpointing (trade compute for memory).

``checkpoint(function, *args)`` runs ``function`` without recording its graph, keeping only
its inputs; the backward pass runs it again, with the random state it first saw (so that
dropout draws the same mask), and differentiates that second run. Gradients reach the
tensor inputs and, as in PyTorch, every parameter ``function`` uses.

>>> import kiln
>>> lin = kiln.nn.Linear(3, 3)
>>> x = kiln.ones(2, 3, requires_grad=True)
>>> y = checkpoint(lambda t: lin(t).relu(), x, use_reentrant=False)
>>> y.sum().backward()
>>> x.grad.shape, lin.weight.grad is not None
(kiln.Size([2, 3]), True)
"""

from __future__ import annotations

import kiln

__all__ = ["checkpoint", "checkpoint_sequential"]


class _Checkpoint(kiln.autograd.Function):
    @staticmethod
    def forward(ctx, run_function, preserve_rng_state, kwargs, n_args, *args_and_params):
        # (the parameters come last only so that the output needs a gradient when they do)
        args = args_and_params[:n_args]
        ctx.n_params = len(args_and_params) - n_args
        ctx.run_function, ctx.kwargs = run_function, kwargs
        ctx.rng_state = kiln.get_rng_state() if preserve_rng_state else None
        ctx.tensor_positions = [i for i, a in enumerate(args) if isinstance(a, kiln.Tensor)]
        ctx.inputs = list(args)
        ctx.save_for_backward(*(args[i] for i in ctx.tensor_positions))
        with kiln.no_grad():
            return run_function(*args, **kwargs)

    @staticmethod
    def backward(ctx, *grad_outputs):
        inputs = list(ctx.inputs)
        detached = []
        for i, saved in zip(ctx.tensor_positions, ctx.saved_tensors, strict=True):
            d = saved.detach()
            d.requires_grad = saved.requires_grad
            inputs[i] = d
            detached.append(d)
        if ctx.rng_state is not None:
            current = kiln.get_rng_state()
            kiln.set_rng_state(ctx.rng_state)
        try:
            with kiln.enable_grad():
                outputs = ctx.run_function(*inputs, **ctx.kwargs)
        finally:
            if ctx.rng_state is not None:
                kiln.set_rng_state(current)
        if isinstance(outputs, kiln.Tensor):
            outputs = (outputs,)
        pairs = [
            (o, g)
            for o, g in zip(outputs, grad_outputs, strict=False)
            if isinstance(o, kiln.Tensor) and o.requires_grad and g is not None
        ]
        if not pairs:
            raise RuntimeError(
                "none of output has requires_grad=True, this checkpoint() is not necessary"
            )
        kiln.autograd.backward([o for o, _ in pairs], [g for _, g in pairs])
        grads = [None] * len(inputs)
        for i, d in zip(ctx.tensor_positions, detached, strict=True):
            grads[i] = d.grad
        return (None, None, None, None, *grads, *([None] * ctx.n_params))


def checkpoint(
    function,
    *args,
    use_reentrant=None,
    context_fn=None,
    determinism_check: str = "default",
    debug: bool = False,
    preserve_rng_state: bool = True,
    **kwargs,
):
    """``function(*args, **kwargs)``, recomputed in the backward pass instead of stored.

    As in PyTorch, ``use_reentrant`` should be given: left out, it warns and means
    ``True``, where an output needs a gradient only if an input tensor does (parameters
    used by ``function`` then get none); with ``use_reentrant=False`` the parameters of a
    module ``function`` is, is a method of, or closes over get their gradients too.
    ``context_fn`` is not supported.
    """
    import warnings

    if context_fn is not None:
        raise NotImplementedError("kiln.utils.checkpoint: context_fn is not supported")
    if use_reentrant is None:
        warnings.warn(
            "torch.utils.checkpoint: the use_reentrant parameter should be passed "
            "explicitly. Pass use_reentrant=True or use_reentrant=False.",
            stacklevel=2,
        )
        use_reentrant = True
    if not kiln.is_grad_enabled():
        return function(*args, **kwargs)
    params = [] if use_reentrant else _parameters(function)
    if not any(isinstance(a, kiln.Tensor) and a.requires_grad for a in args) and not params:
        if use_reentrant:
            warnings.warn(
                "None of the inputs have requires_grad=True. Gradients will be None",
                stacklevel=2,
            )
        with kiln.no_grad():
            return function(*args, **kwargs)
    return _Checkpoint.apply(function, preserve_rng_state, kwargs, len(args), *args, *params)


def _parameters(function) -> list:
    """The trainable parameters of a module ``function`` is, is a method of, or closes
    over (what the output's gradient must reach besides the inputs)."""
    candidates = [function, getattr(function, "__self__", None)]
    for cell in getattr(function, "__closure__", None) or ():
        try:
            candidates.append(cell.cell_contents)
        except ValueError:
            pass
    modules = []
    for c in candidates:
        if isinstance(c, kiln.nn.Module):
            modules.append(c)
        elif isinstance(c, (list, tuple)):
            modules.extend(m for m in c if isinstance(m, kiln.nn.Module))
    found: dict[int, object] = {}
    for m in modules:
        for p in m.parameters():
            if p.requires_grad:
                found.setdefault(id(p), p)
    return list(found.values())


def checkpoint_sequential(functions, segments: int, input, use_reentrant=None, **kwargs):
    """Run a ``Sequential`` (or list of modules) in ``segments`` checkpointed chunks; the
    last chunk runs normally."""
    if isinstance(functions, kiln.nn.Sequential):
        functions = list(functions.children())
    functions = list(functions)

    def run(start, end):
        def forward(x):
            for j in range(start, end + 1):
                x = functions[j](x)
            return x

        return forward

    segment_size = len(functions) // segments
    end = -1
    for start in range(0, segment_size * (segments - 1), segment_size):
        end = start + segment_size - 1
        input = checkpoint(run(start, end), input, use_reentrant=use_reentrant, **kwargs)
    return run(end + 1, len(functions) - 1)(input)
