"""``kiln.nn.utils.rnn``: batches of sequences of different lengths (PyTorch's packing).

A ``PackedSequence`` stores the time steps of a batch one after the other, each step
holding only the sequences still running (``batch_sizes[t]`` of them, longest first), as
PyTorch's. Packing and unpacking are written in kiln ops (slices, ``cat``, ``stack``), so
gradients flow through them.

>>> import kiln
>>> seqs = [kiln.tensor([1.0, 2.0, 3.0]), kiln.tensor([4.0])]
>>> padded = pad_sequence(seqs)
>>> packed = pack_padded_sequence(padded, [3, 1])
>>> packed.data.tolist(), packed.batch_sizes.tolist()
([1.0, 4.0, 2.0, 3.0], [2, 1, 1])
>>> out, lengths = pad_packed_sequence(packed, batch_first=True)
>>> out.tolist(), lengths.tolist()
([[1.0, 2.0, 3.0], [4.0, 0.0, 0.0]], [3, 1])
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

import kiln
from kiln import ops

__all__ = [
    "PackedSequence",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpack_sequence",
    "unpad_sequence",
]

_PackedSequenceBase = namedtuple(
    "_PackedSequenceBase", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"]
)


class PackedSequence(_PackedSequenceBase):
    """``(data, batch_sizes, sorted_indices, unsorted_indices)``; build it with
    ``pack_padded_sequence`` or ``pack_sequence``."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = _invert(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        return type(self)(self.data.to(*args, **kwargs), *self[1:])

    def cpu(self):
        return self

    @property
    def is_cuda(self) -> bool:
        return self.data.is_cuda

    def is_pinned(self) -> bool:
        return False


def _invert(perm):
    p = np.asarray(perm.numpy() if isinstance(perm, kiln.Tensor) else perm)
    inv = np.empty_like(p)
    inv[p] = np.arange(p.size)
    return kiln.tensor(inv)


def _lengths_array(lengths) -> np.ndarray:
    if isinstance(lengths, kiln.Tensor):
        if kiln.is_tracing():
            raise RuntimeError(
                "pack_padded_sequence: the lengths must be known while tracing; pass them "
                "as a list or a static argument"
            )
        lengths = lengths.detach().numpy()
    return np.asarray(lengths, dtype=np.int64).reshape(-1)


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) whose
    sequence ``b`` has ``lengths[b]`` valid steps."""
    lengths = _lengths_array(lengths)
    batch_dim = 0 if batch_first else 1
    if lengths.size != input.shape[batch_dim]:
        raise RuntimeError(
            f"pack_padded_sequence: expected {input.shape[batch_dim]} lengths (the batch size "
            f"of the input of shape {list(input.shape)}), got {lengths.size}"
        )
    if lengths.size and lengths.min() <= 0:
        raise RuntimeError(
            "Length of all samples has to be greater than 0, but found an element in "
            "'lengths' that is <= 0"
        )
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise RuntimeError(
                "`lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                "True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
                "pack_sequence to sidestep this requirement if you do not need ONNX "
                "exportability."
            )
        sorted_indices = None
        order = np.arange(lengths.size)
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = kiln.tensor(order)
    if batch_first:
        input = ops.transpose(input, 0, 1)
    if lengths.size and lengths.max() > input.shape[0]:
        raise RuntimeError(
            f"pack_padded_sequence: a length of {lengths.max()} exceeds the {input.shape[0]} "
            "time steps of the input"
        )
    if sorted_indices is not None:
        input = ops.index_select(input, 1, sorted_indices)
    sorted_lengths = lengths[order]
    steps = int(sorted_lengths.max()) if sorted_lengths.size else 0
    batch_sizes = np.array([(sorted_lengths > t).sum() for t in range(steps)], dtype=np.int64)
    data = ops.cat([input[t, : int(bs)] for t, bs in enumerate(batch_sizes)], 0)
    return PackedSequence(data, kiln.tensor(batch_sizes), sorted_indices)


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Undo ``pack_padded_sequence``: the padded batch and each sequence's length."""
    data, batch_sizes = sequence.data, _lengths_array(sequence.batch_sizes)
    max_batch = int(batch_sizes[0]) if batch_sizes.size else 0
    steps = batch_sizes.size
    if total_length is not None:
        if total_length < steps:
            raise ValueError(
                f"Expected total_length to be at least the length of the longest sequence "
                f"in input, but got total_length={total_length} and max sequence length "
                f"being {steps}"
            )
    rows, start = [], 0
    feature = tuple(data.shape[1:])
    for bs in batch_sizes:
        bs = int(bs)
        step = data[start : start + bs]
        start += bs
        if bs < max_batch:
            fill = kiln.full((max_batch - bs, *feature), padding_value, dtype=data.dtype)
            step = ops.cat([step, fill], 0)
        rows.append(step)
    extra = (total_length or steps) - steps
    for _ in range(extra):
        rows.append(kiln.full((max_batch, *feature), padding_value, dtype=data.dtype))
    padded = ops.stack(rows, 0)
    lengths = np.array([(batch_sizes > b).sum() for b in range(max_batch)], dtype=np.int64)
    if sequence.unsorted_indices is not None:
        padded = ops.index_select(padded, 1, sequence.unsorted_indices)
        lengths = lengths[np.asarray(sequence.unsorted_indices.numpy())]
    if batch_first:
        padded = ops.transpose(padded, 0, 1)
    return padded, kiln.tensor(lengths)


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack tensors of shapes ``(L_i, *)`` into ``(max L, B, *)``, padding the short ones."""
    if isinstance(sequences, kiln.Tensor):
        sequences = list(ops.unbind(sequences, 0))
    sequences = list(sequences)
    if padding_side not in ("left", "right"):
        raise ValueError(
            f"Expected padding_side to be one of left or right, but got {padding_side}."
        )
    longest = max(s.shape[0] for s in sequences)
    out = []
    for s in sequences:
        missing = longest - s.shape[0]
        if missing:
            fill = kiln.full((missing, *s.shape[1:]), padding_value, dtype=s.dtype)
            s = ops.cat([s, fill] if padding_side == "right" else [fill, s], 0)
        out.append(s)
    return ops.stack(out, 0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    lengths = _lengths_array(lengths)
    if not batch_first:
        padded_sequences = ops.transpose(padded_sequences, 0, 1)
    return [padded_sequences[b, : int(n)] for b, n in enumerate(lengths)]


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of tensors ``(L_i, *)`` (longest first unless ``enforce_sorted=False``)."""
    lengths = [s.shape[0] for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
