"""Small PyTorch surface found by this session's probes: ``Tensor.tile`` with the repetitions
spread out (``x.tile(2, 1)``, a TypeError before), and ``torch.OutOfMemoryError`` (the same
class as ``torch.cuda.OutOfMemoryError``)."""

from __future__ import annotations

import pytest

import kiln

torch = pytest.importorskip("torch")


def _tiles(lib):
    x = lib.arange(6).view(2, 3)
    out = []
    for args in [(2, 1), ((2, 1),), ([3],), (3,), ((),), (1, 2, 1), ([2, 2],)]:
        y = x.tile(*args)
        out.append((tuple(y.shape), y.tolist()))
    for bad in [lambda: x.tile(), lambda: lib.tile(x, 2, 1)]:
        with pytest.raises(TypeError):
            bad()
    return out


def test_tile_method_takes_spread_out_repetitions_as_torch():
    assert _tiles(kiln) == _tiles(torch)


def test_out_of_memory_error_is_one_runtime_error_class_as_torch():
    for lib in (kiln, torch):
        assert lib.OutOfMemoryError is lib.cuda.OutOfMemoryError
        assert issubclass(lib.OutOfMemoryError, RuntimeError)
    with pytest.raises(RuntimeError):
        raise kiln.OutOfMemoryError("CUDA out of memory")
