"""multinomial (and so Categorical.sample) under kiln.jit: it read the tracer's values and
failed with "IndexError: tuple index out of range"; now an inverse-CDF draw, compiled and
fresh on every call."""

from __future__ import annotations

import numpy as np
import pytest

import kiln
from kiln.compiler.errors import TraceError

PROBS = np.array([[0.1, 0.0, 0.6, 0.3], [0.25, 0.25, 0.25, 0.25]], np.float32)


def test_draws_follow_the_probabilities():
    kiln.manual_seed(0)
    draw = kiln.jit(lambda p: kiln.multinomial(p, 20000, replacement=True))
    first = draw(kiln.tensor(PROBS * 3.0))  # (unnormalized weights, as multinomial takes)
    second = draw(kiln.tensor(PROBS * 3.0))
    assert first.shape == (2, 20000) and first.dtype == kiln.int64
    for row, want in zip(first.numpy(), PROBS, strict=True):
        freq = np.bincount(row, minlength=4) / row.size
        np.testing.assert_allclose(freq, want, atol=0.015)
        assert freq[want == 0].sum() == 0  # a category of probability 0 is never drawn
    assert not np.array_equal(first.numpy(), second.numpy())  # fresh on every call
    assert draw.trace_count == 1


def test_categorical_sample_under_jit():
    kiln.manual_seed(0)
    logits = kiln.randn(16, 3)

    def sample(logits):
        dist = kiln.distributions.Categorical(logits=logits)
        action = dist.sample()
        return action, dist.log_prob(action)

    action, logp = kiln.jit(sample)(logits)
    assert action.shape == (16,) and int(action.min()) >= 0 and int(action.max()) <= 2
    want = kiln.log_softmax(logits, -1).gather(1, action[:, None])[:, 0]
    np.testing.assert_allclose(logp.numpy(), want.numpy(), rtol=1e-6)


def test_one_draw_without_replacement_and_the_refused_case():
    p = kiln.tensor(PROBS)
    one = kiln.jit(lambda p: kiln.multinomial(p, 1))(p)
    assert one.shape == (2, 1) and one.numpy()[0, 0] != 1
    with pytest.raises(TraceError, match="replacement=False"):
        kiln.jit(lambda p: kiln.multinomial(p, 2))(p)
    eager = kiln.compile(lambda p: kiln.multinomial(p, 2))(p)  # (runs eagerly)
    assert eager.shape == (2, 2) and len(set(eager.numpy()[1])) == 2


def test_poisson_of_traced_rates_is_refused_clearly():
    rates = kiln.rand(4) + 0.5
    with pytest.raises(TraceError, match="poisson"):  # (was ValueError "lam < 0 or lam is NaN")
        kiln.jit(lambda r: kiln.poisson(r))(rates)
    assert kiln.compile(lambda r: kiln.poisson(r))(rates).shape == (4,)
