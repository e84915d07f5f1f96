"""``default_collate``: merge a list of samples into a batch, as ``torch.utils.data``.

Tensors and NumPy arrays are stacked along a new first dimension, Python floats become a
float64 tensor, ints an int64 tensor, strings stay a list; tuples, lists, dicts and
namedtuples are collated field by field.

>>> import kiln
>>> default_collate([(kiln.tensor([1.0, 2.0]), 0), (kiln.tensor([3.0, 4.0]), 1)])
[tensor([[1., 2.],
        [3., 4.]]), tensor([0, 1])]
>>> batch = default_collate([{"x": 1.5}, {"x": 2.5}])
>>> batch["x"].dtype, batch["x"].tolist()
(kiln.float64, [1.5, 2.5])
"""

from __future__ import annotations

import collections.abc
import copy
import numbers

import numpy as np

import kiln

from ...tensor import Tensor


def default_collate(batch):
    """Stack a list of samples into one batch (recursing into containers)."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return kiln.stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "OSUV":
            raise TypeError(
                f"default_collate: batch must contain tensors, numpy arrays, "
                f"numbers, dicts or lists; found an array of {elem.dtype}"
            )
        return kiln.from_numpy(np.stack(batch))
    if isinstance(elem, np.generic):
        return kiln.from_numpy(np.array(batch))
    if isinstance(elem, bool):
        return kiln.tensor(batch)
    if isinstance(elem, float):
        return kiln.tensor(batch, dtype=kiln.float64)
    if isinstance(elem, numbers.Integral):
        # (the dtype inferred from the whole batch, as PyTorch's torch.tensor(batch): a
        # later float makes it a float tensor, not one truncated to int64)
        return kiln.tensor(batch)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        merged = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return merged if type(elem) is dict else type(elem)(merged)
        except TypeError:
            return merged
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(samples)) for samples in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(sample) != size for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        columns = [default_collate(list(samples)) for samples in zip(*batch)]
        if isinstance(elem, tuple):
            return columns  # PyTorch returns a list for tuples too
        try:
            return type(elem)(columns)
        except TypeError:
            return columns
    raise TypeError(
        f"default_collate: batch must contain tensors, numpy arrays, numbers, "
        f"dicts or lists; found {type(elem).__name__}"
    )


def default_convert(data):
    """Without batching (``batch_size=None``), as PyTorch's: NumPy arrays and NumPy scalars
    become tensors (arrays of strings or objects stay), containers are converted element by
    element (a mapping or a list keeps its type, a plain tuple becomes a list, a named tuple
    stays one), anything else is returned as it is."""
    if isinstance(data, kiln.Tensor):
        return data
    kind = type(data)
    if kind.__module__ == "numpy" and kind.__name__ not in ("str_", "bytes_", "string_"):
        if isinstance(data, np.ndarray) and data.dtype.kind in "OSUV":
            return data
        return kiln.as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        try:
            if isinstance(data, collections.abc.MutableMapping):
                clone = copy.copy(data)
                clone.update({key: default_convert(data[key]) for key in data})
                return clone
            return kind({key: default_convert(data[key]) for key in data})
        except TypeError:  # (a mapping type that cannot be built so)
            return {key: default_convert(data[key]) for key in data}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return kind(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # (PyTorch's, for compatibility)
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            if isinstance(data, collections.abc.MutableSequence):
                clone = copy.copy(data)
                for i, d in enumerate(data):
                    clone[i] = default_convert(d)
                return clone
            return kind([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data
