"""``DistributedDataParallel``: the same model on every rank, gradients averaged.

At construction the parameters (and buffers) are broadcast from rank 0, so all ranks start
equal. After each backward pass ``sync_gradients()`` averages the gradients over the ranks:
they are flattened into buckets of about ``bucket_cap_mb`` megabytes (parameters in reverse
order, the order backward produces them) and each bucket is reduced with one Allreduce.
Every rank then applies the same optimizer update to the same averaged gradient, so the
replicas stay identical.

When is ``sync_gradients`` run?

* eagerly: automatically once every parameter's gradient has been accumulated, when the
  tensors offer ``register_post_accumulate_grad_hook`` (PyTorch's hook for this); without
  it call ``ddp.sync_gradients()`` after ``loss.backward()``, which is always allowed and
  idempotent for the step (a second call in the same step does nothing);
* inside ``kiln.jit`` the same hook runs while the step is traced (an explicit
  ``ddp.sync_gradients()`` is harmless); each bucket's all-reduce becomes a boundary
  between stages of the compiled step.

>>> ddp = DistributedDataParallel(model)  # doctest: +SKIP
>>> loss_fn(ddp(x), y).backward(); ddp.sync_gradients(); optimizer.step()  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import math

from ..autograd import grad_mode
from ..autograd.tape import set_leaf_grad
from . import process_group as pg


def _unique(tensors) -> list:
    seen, out = set(), []
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def make_buckets(params: list, cap_bytes: int) -> list[list]:
    """Group ``params`` (in the given order) into buckets of one dtype and at most
    ``cap_bytes`` bytes each (a parameter larger than the cap gets its own bucket)."""
    buckets: list[list] = []
    current: list = []
    size = 0
    for p in params:
        nbytes = math.prod(p.shape) * p.dtype.itemsize
        if current and (size + nbytes > cap_bytes or p.dtype is not current[0].dtype):
            buckets.append(current)
            current, size = [], 0
        current.append(p)
        size += nbytes
    if current:
        buckets.append(current)
    return buckets


class DistributedDataParallel:
    """Wrap ``module`` for data-parallel training over the default process group."""

    def __init__(
        self,
        module,
        device_ids=None,
        output_device=None,
        dim=0,
        broadcast_buffers=True,
        process_group=None,
        bucket_cap_mb=25,
        find_unused_parameters=False,
        gradient_as_bucket_view=False,
    ):
        if not pg.is_initialized():
            raise RuntimeError(
                "DistributedDataParallel: call kiln.distributed.init_process_group() first"
            )
        if not hasattr(module, "parameters"):
            raise TypeError(
                f"DistributedDataParallel wraps a module with parameters(), got "
                f"{type(module).__name__}"
            )
        self.module = module
        self.world_size = pg.get_world_size()
        self.require_backward_grad_sync = True
        params = _unique(module.parameters())
        self.parameters_to_sync = [p for p in params if p.requires_grad]
        buffers = _unique(module.buffers()) if hasattr(module, "buffers") else []
        with grad_mode.no_grad():
            for t in params + (buffers if broadcast_buffers else []):
                pg.broadcast(t, src=0)
        self.buckets = make_buckets(self.parameters_to_sync[::-1], int(bucket_cap_mb * 1024 * 1024))
        self._pending: set[int] = set()
        self._synced = False
        self.automatic = self._register_hooks()

    # -------------------------------------------------------------- module façade
    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        self._synced = False
        self._pending = {id(p) for p in self.parameters_to_sync}
        return self.module(*args, **kwargs)

    def __getattr__(self, name):
        # parameters(), state_dict(), train(), eval(), ... come from the wrapped module
        if name == "module":
            raise AttributeError(name)
        return getattr(self.module, name)

    @contextlib.contextmanager
    def no_sync(self):
        """Accumulate gradients locally (no automatic all-reduce) inside the block."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    # -------------------------------------------------------------- gradients
    def _register_hooks(self) -> bool:
        if not all(
            hasattr(p, "register_post_accumulate_grad_hook") for p in self.parameters_to_sync
        ):
            return False
        for p in self.parameters_to_sync:
            p.register_post_accumulate_grad_hook(self._on_grad_ready)
        return True

    def _on_grad_ready(self, param) -> None:
        self._pending.discard(id(param))
        if not self._pending and self.require_backward_grad_sync:
            self.sync_gradients()

    def sync_gradients(self) -> None:
        """Average every parameter's ``.grad`` over the ranks, one Allreduce per bucket.

        A parameter without a gradient on this rank contributes zeros (and receives the
        average of the others), so every rank reduces buckets of the same size.
        """
        if self._synced:
            return  # already done for this step (by the automatic hook)
        from .. import ops

        with grad_mode.no_grad():
            for bucket in self.buckets:
                grads = [p.grad if p.grad is not None else ops.zeros_like(p) for p in bucket]
                flat = ops.cat([ops.reshape(g.detach(), (-1,)) for g in grads])
                pg.all_reduce(flat, pg.ReduceOp.SUM)
                flat = flat / self.world_size
                offset = 0
                for p in bucket:
                    n = math.prod(p.shape)
                    piece = ops.reshape(ops.slice_axis(flat, 0, offset, offset + n), p.shape)
                    set_leaf_grad(p, piece)
                    offset += n
        self._synced = True
