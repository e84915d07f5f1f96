"""``default_convert`` and ``multinomial``'s argument checks as PyTorch's (found by the
surface27 probes: NumPy scalars were returned unconverted, and negative sampler weights
raised NumPy's ValueError)."""

from __future__ import annotations

import collections

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")

Pair = collections.namedtuple("Pair", "a b")


def _describe(value):
    if hasattr(value, "dtype") and hasattr(value, "shape") and not isinstance(value, np.ndarray):
        return ("tensor", str(value.dtype).split(".")[-1], value.tolist())
    if isinstance(value, dict):
        return (type(value).__name__, {k: _describe(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_describe(v) for v in value])
    return (type(value).__name__, repr(value))


def test_default_convert_matches_torch():
    from torch.utils.data import default_convert as theirs

    from kiln.utils.data import default_convert as mine

    cases = [
        np.float64(1.5),
        np.int32(3),
        np.bool_(True),
        np.array([1, 2]),
        np.array(["a", "b"]),
        [np.float32(2.0), 3],
        {"a": np.float64(1.0), "b": [np.int64(4)]},
        (np.int64(2), "x"),
        Pair(np.float32(1.0), np.array([2.0])),
        collections.OrderedDict(k=np.int16(7)),
        3.0,
        "text",
        np.str_("s"),
        None,
    ]
    for case in cases:
        assert _describe(mine(case)) == _describe(theirs(case)), case


def _outcome(fn):
    try:
        return ("ok", tuple(fn().shape))
    except Exception as exc:  # the class and the message must agree
        return (type(exc).__name__, str(exc))


def test_multinomial_checks_its_arguments_as_torch():
    cases = [
        lambda L: L.multinomial(L.tensor([1, 2]), 1),
        lambda L: L.multinomial(L.ones(2, 2, 2), 1),
        lambda L: L.multinomial(L.ones(3), 0),
        lambda L: L.multinomial(L.ones(3), -1, True),
        lambda L: L.multinomial(L.ones(0), 1, True),
        lambda L: L.multinomial(L.tensor(1.0), 1, True),
        lambda L: L.multinomial(L.ones(3), 4),
        lambda L: L.multinomial(L.tensor([0.0, 1.0, 0.0]), 2),  # (zero categories fill up)
    ]
    for w in ([-1.0, 2.0], [0.0, 0.0], [float("nan"), 1.0], [float("inf"), 1.0]):
        cases.append(lambda L, w=w: L.multinomial(L.tensor(w), 2, True))
        cases.append(lambda L, w=w: L.multinomial(L.tensor([w, [1.0, 1.0]]), 1, True))
    for case in cases:
        assert _outcome(lambda c=case: c(kiln)) == _outcome(lambda c=case: c(torch))


def test_weighted_sampler_refuses_bad_weights_as_torch():
    for weights in ([-1.0, 2.0], [0.0, 0.0], [float("nan"), 1.0]):
        outcomes = []
        for lib in (torch, kiln):
            sampler = lib.utils.data.WeightedRandomSampler(weights, 3)
            outcomes.append(_outcome(lambda s=sampler, L=lib: L.tensor(list(s))))
        assert outcomes[0] == outcomes[1]
