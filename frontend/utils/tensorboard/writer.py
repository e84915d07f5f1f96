"""``SummaryWriter``: PyTorch's TensorBoard logger, on top of tensorboardX.

tensorboardX writes the event files; this class converts kiln tensors to NumPy on the way
and draws kiln's own IR graph in ``add_graph`` (PyTorch's version would run TorchScript).

>>> with SummaryWriter("runs/demo") as writer:  # doctest: +SKIP
...     for step in range(3):
...         writer.add_scalar("loss", 1.0 / (step + 1), step)
"""

from __future__ import annotations

import numpy as np

from ...tensor import Tensor
from .graph import to_graph_def


def _tensorboardx():
    try:
        import tensorboardX
    except ImportError as exc:
        raise ImportError(
            "kiln.utils.tensorboard needs tensorboardX: pip install "
            "'kiln[tensorboard]' (tensorboardX, protobuf)"
        ) from exc
    return tensorboardX


def _plain(value):
    """A kiln tensor as NumPy (a 0-d one as a Python number); anything else unchanged."""
    if isinstance(value, Tensor):
        array = value.detach().numpy()
        return array.item() if array.ndim == 0 else array
    return value


class SummaryWriter:
    """Write TensorBoard event files into ``log_dir`` (``runs/<date>_<host><comment>``
    when not given), like ``torch.utils.tensorboard.SummaryWriter``."""

    def __init__(
        self,
        log_dir=None,
        comment="",
        purge_step=None,
        max_queue=10,
        flush_secs=120,
        filename_suffix="",
    ):
        tbx = _tensorboardx()
        self._writer = tbx.SummaryWriter(
            logdir=log_dir,
            comment=comment,
            purge_step=purge_step,
            max_queue=max_queue,
            flush_secs=flush_secs,
            filename_suffix=filename_suffix,
        )
        self.log_dir = self._writer.logdir
        self._writer_options = {
            "max_queue": max_queue,
            "flush_secs": flush_secs,
            "filename_suffix": filename_suffix,
        }
        self._all_writers: dict = {}  # add_scalars' per-curve writers

    def get_logdir(self) -> str:
        return self.log_dir

    # -------------------------------------------------------------- summaries
    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None):
        """Log one number (a Python number or a one-element tensor) under ``tag``."""
        value = _plain(scalar_value)
        if isinstance(value, np.ndarray):
            if value.size != 1:
                raise ValueError(
                    f"add_scalar({tag!r}): expected one value, got a tensor of "
                    f"shape {list(value.shape)}"
                )
            value = value.item()
        self._writer.add_scalar(tag, float(value), global_step, walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Log several curves on one chart: ``{"train": 0.3, "val": 0.4}``."""
        # as PyTorch: one writer per curve, in ``<log_dir>/<main_tag>_<tag>``
        tbx = _tensorboardx()
        for tag, value in tag_scalar_dict.items():
            logdir = self.log_dir + "/" + main_tag.replace("/", "_") + "_" + tag
            writer = self._all_writers.get(logdir)
            if writer is None:
                writer = self._all_writers[logdir] = tbx.SummaryWriter(
                    logdir=logdir, **self._writer_options
                )
            writer.add_scalar(main_tag, float(np.asarray(_plain(value))), global_step, walltime)

    def add_histogram(
        self, tag, values, global_step=None, bins="tensorflow", walltime=None, max_bins=None
    ):
        """Log the distribution of ``values`` (a tensor or array)."""
        array = np.asarray(_plain(values), dtype=np.float64)
        self._writer.add_histogram(tag, array, global_step, bins, walltime, max_bins)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        self._writer.add_text(tag, text_string, global_step, walltime)

    def add_graph(self, model, input_to_model=None, verbose=False):
        """Trace ``model(*input_to_model)`` and write kiln's IR graph for the graph view.

        ``model`` is a module or a function; ``input_to_model`` a tensor or a tuple of them.
        With ``verbose`` the IR text is printed too.
        """
        if input_to_model is None:
            raise ValueError(
                "add_graph: pass input_to_model (a tensor or a tuple of "
                "tensors) so the model can be traced"
            )
        graph_def = to_graph_def(model, input_to_model)
        if verbose:
            print(graph_def)
        from tensorboardX.proto import event_pb2

        event = event_pb2.Event(graph_def=graph_def.SerializeToString())
        self._writer._get_file_writer().add_event(event)

    # -------------------------------------------------------------- lifetime
    def flush(self):
        self._writer.flush()
        for writer in self._all_writers.values():
            writer.flush()

    def close(self):
        self._writer.close()
        for writer in self._all_writers.values():
            writer.close()
        self._all_writers.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
