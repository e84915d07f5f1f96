"""``torch.nn.utils.stateless``: the older home of ``functional_call`` (now
``torch.func.functional_call``), still used by tutorials and libraries."""


def functional_call(
    module, parameters_and_buffers, args=None, kwargs=None, *, tie_weights=True, strict=False
):
    """``kiln.func.functional_call`` (imported on first use: kiln.func needs kiln.nn)."""
    from ...func import functional_call as call

    return call(
        module, parameters_and_buffers, args, kwargs, tie_weights=tie_weights, strict=strict
    )


__all__ = ["functional_call"]
