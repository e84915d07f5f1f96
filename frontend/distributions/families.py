"""The continuous and count families beyond the originals: ``Exponential``, ``Gamma``,
``Chi2``, ``Beta``, ``Dirichlet``, ``Laplace``, ``Poisson``, ``Binomial``, ``Geometric``,
``StudentT``, ``Cauchy`` and ``MixtureSameFamily``, with ``torch.distributions``'
parameterisations and formulas.

Sampling draws from kiln's generator (``kiln.manual_seed``), so streams differ from
PyTorch's bits but agree in distribution. ``Gamma``/``Chi2``/``Beta``/``Dirichlet``
``rsample`` are reparameterized by implicit differentiation (as PyTorch): a standard gamma
draw ``x ~ Gamma(a, 1)`` has ``dx/da = -(dF/da) / f(x)``, with ``F`` the regularized
incomplete gamma (its ``a``-derivative by a central difference, ~1e-8 relative) and ``f``
the density. ``Beta`` and ``Dirichlet`` normalize independent gamma draws, so their
per-sample gradients are the exact gradients of that construction, which equal PyTorch's
(``_dirichlet_grad``) in expectation, not sample by sample.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

import kiln

from . import constraints
from ._classic import Categorical
from .distribution import (
    Distribution,
    _as_tensor,
    _host_draw,
    _shape,
    broadcast_all,
    logits_to_probs,
    probs_to_logits,
)

__all__ = [
    "Beta",
    "Binomial",
    "Cauchy",
    "Chi2",
    "Dirichlet",
    "Exponential",
    "Gamma",
    "Geometric",
    "Laplace",
    "MixtureSameFamily",
    "Poisson",
    "StudentT",
]


def _to_numpy(t):
    return np.asarray(t.detach().numpy(), dtype=np.float64)


def _standard_gamma(alpha):
    """``Gamma(alpha, 1)`` draws of ``alpha``'s shape with implicit-reparameterization
    gradients to ``alpha``."""
    _host_draw("Gamma/Beta/Dirichlet/Chi2/StudentT")
    a = _to_numpy(alpha)
    rng = kiln.default_generator.numpy_generator()
    x = rng.standard_gamma(a) if a.size else np.zeros(a.shape)
    x = np.maximum(x, np.finfo(np.float64).tiny)
    out = kiln.tensor(x, dtype=alpha.dtype)
    out = out.clamp(min=kiln.finfo(alpha.dtype).tiny)
    if not (alpha.requires_grad and kiln.is_grad_enabled()):
        return out
    grad = _standard_gamma_grad(a, x)
    return out + kiln.tensor(grad, dtype=alpha.dtype) * (alpha - alpha.detach())


def _standard_gamma_grad(a, x):
    """``dx/da`` of ``x = F^-1(u; a)`` at fixed ``u``: ``-(dF/da) / f(x; a)``."""
    a64 = kiln.tensor(a, dtype=kiln.float64)
    x64 = kiln.tensor(x, dtype=kiln.float64)
    with kiln.no_grad():
        h = a64 * 1e-4
        dF = (kiln.special.gammainc(a64 + h, x64) - kiln.special.gammainc(a64 - h, x64)) / (2 * h)
        log_pdf = (a64 - 1) * x64.log() - x64 - kiln.lgamma(a64)
        grad = -dF / log_pdf.exp()
    grad = _to_numpy(grad)
    return np.where(np.isfinite(grad), grad, 0.0)


class Exponential(Distribution):
    """``rate * exp(-rate * x)`` on ``x >= 0``."""

    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, rate, validate_args=None):
        (self.rate,) = broadcast_all(rate)
        super().__init__(self.rate.shape, (), validate_args)

    @property
    def mean(self):
        return self.rate.reciprocal()

    @property
    def mode(self):
        return kiln.zeros_like(self.rate)

    @property
    def stddev(self):
        return self.rate.reciprocal()

    @property
    def variance(self):
        return self.rate.pow(-2)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        u = kiln.rand(shape, dtype=self.rate.dtype)
        return -kiln.log1p(-u) / self.rate

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return self.rate.log() - self.rate * value

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 1 - kiln.exp(-self.rate * value)

    def icdf(self, value):
        return -kiln.log1p(-value) / self.rate

    def entropy(self):
        return 1.0 - kiln.log(self.rate)


class Gamma(Distribution):
    """Shape ``concentration``, inverse scale ``rate``."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, concentration, rate, validate_args=None):
        self.concentration, self.rate = broadcast_all(concentration, rate)
        super().__init__(self.concentration.shape, (), validate_args)

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / self.rate.pow(2)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        value = _standard_gamma(self.concentration.expand(shape)) / self.rate.expand(shape)
        return value.clamp(min=kiln.finfo(value.dtype).tiny)

    def log_prob(self, value):
        value = _as_tensor(value, self.rate)
        if self._validate_args:
            self._validate_sample(value)
        return (
            kiln.xlogy(self.concentration, self.rate)
            + kiln.xlogy(self.concentration - 1, value)
            - self.rate * value
            - kiln.lgamma(self.concentration)
        )

    def entropy(self):
        return (
            self.concentration
            - kiln.log(self.rate)
            + kiln.lgamma(self.concentration)
            + (1.0 - self.concentration) * kiln.digamma(self.concentration)
        )

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return kiln.special.gammainc(self.concentration, self.rate * value)


class Chi2(Gamma):
    """``Gamma(df / 2, 1 / 2)``."""

    arg_constraints = {"df": constraints.positive}

    def __init__(self, df, validate_args=None):
        (df,) = broadcast_all(df)
        super().__init__(0.5 * df, kiln.full_like(df, 0.5), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        return super().expand(batch_shape, _instance)

    @property
    def df(self):
        return self.concentration * 2


class Dirichlet(Distribution):
    """On the simplex, with positive ``concentration`` (last dimension = the event)."""

    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration, validate_args=None):
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        batch_shape, event_shape = concentration.shape[:-1], concentration.shape[-1:]
        super().__init__(batch_shape, event_shape, validate_args)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        gammas = _standard_gamma(self.concentration.expand(shape))
        out = gammas / gammas.sum(-1, keepdim=True)
        finfo = kiln.finfo(out.dtype)
        return out.clamp(min=finfo.tiny, max=1 - finfo.eps)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        c = self.concentration
        return kiln.xlogy(c - 1.0, value).sum(-1) + kiln.lgamma(c.sum(-1)) - kiln.lgamma(c).sum(-1)

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, True)

    @property
    def mode(self):
        cm1 = (self.concentration - 1).clamp(min=0.0)
        mode = cm1 / cm1.sum(-1, True)
        mask = (self.concentration < 1).all(-1, keepdim=True)
        one_hot = kiln.nn.functional.one_hot(
            self.concentration.argmax(-1), self.concentration.shape[-1]
        ).to(mode.dtype)
        return kiln.where(mask, one_hot, mode)

    @property
    def variance(self):
        con0 = self.concentration.sum(-1, True)
        return self.concentration * (con0 - self.concentration) / (con0.pow(2) * (con0 + 1))

    def entropy(self):
        c = self.concentration
        k = c.size(-1)
        a0 = c.sum(-1)
        return (
            kiln.lgamma(c).sum(-1)
            - kiln.lgamma(a0)
            - (k - a0) * kiln.digamma(a0)
            - ((c - 1.0) * kiln.digamma(c)).sum(-1)
        )


class Beta(Distribution):
    """On ``[0, 1]`` with shapes ``concentration1`` (alpha) and ``concentration0`` (beta)."""

    arg_constraints = {
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
    }
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1, concentration0, validate_args=None):
        self._given = ()  # (PyTorch's repr: Beta(); its parameters live in a Dirichlet)
        if isinstance(concentration1, numbers.Real) and isinstance(concentration0, numbers.Real):
            concentration1_concentration0 = kiln.tensor(
                [float(concentration1), float(concentration0)]
            )
        else:
            concentration1, concentration0 = broadcast_all(concentration1, concentration0)
            concentration1_concentration0 = kiln.stack([concentration1, concentration0], -1)
        self.concentration1 = concentration1_concentration0[..., 0]
        self.concentration0 = concentration1_concentration0[..., 1]
        super().__init__(self.concentration1.shape, (), validate_args)
        self._dirichlet = Dirichlet(concentration1_concentration0, validate_args=False)

    def expand(self, batch_shape, _instance=None):
        new = super().expand(batch_shape, _instance)
        new._dirichlet = self._dirichlet.expand(_shape(batch_shape))
        return new

    @property
    def mean(self):
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def mode(self):
        return self._dirichlet.mode[..., 0]

    @property
    def variance(self):
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total.pow(2) * (total + 1))

    def rsample(self, sample_shape=()):
        return self._dirichlet.rsample(sample_shape).select(-1, 0)

    def log_prob(self, value):
        value = _as_tensor(value, self.concentration1)
        if self._validate_args:
            self._validate_sample(value)
        heads_tails = kiln.stack([value, 1.0 - value], -1)
        return self._dirichlet.log_prob(heads_tails)

    def entropy(self):
        return self._dirichlet.entropy()


class Laplace(Distribution):
    """``exp(-|x - loc| / scale) / (2 scale)``."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(self.loc.shape, (), validate_args)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return 2 * self.scale.pow(2)

    @property
    def stddev(self):
        return (2**0.5) * self.scale

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = kiln.finfo(self.loc.dtype).eps
        u = kiln.rand(shape, dtype=self.loc.dtype) * (2 - eps) + (eps - 1)  # (eps - 1, 1)
        return self.loc - self.scale * u.sign() * kiln.log1p(-u.abs())

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return -kiln.log(2 * self.scale) - kiln.abs(value - self.loc) / self.scale

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 - 0.5 * (value - self.loc).sign() * kiln.expm1(
            -(value - self.loc).abs() / self.scale
        )

    def icdf(self, value):
        term = value - 0.5
        return self.loc - self.scale * term.sign() * kiln.log1p(-2 * term.abs())

    def entropy(self):
        return 1 + kiln.log(2 * self.scale)


class Poisson(Distribution):
    """Counts with mean ``rate``."""

    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer

    def __init__(self, rate, validate_args=None):
        (self.rate,) = broadcast_all(rate)
        super().__init__(self.rate.shape, (), validate_args)

    @property
    def mean(self):
        return self.rate

    @property
    def mode(self):
        return self.rate.floor()

    @property
    def variance(self):
        return self.rate

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        _host_draw("Poisson")
        rate = np.broadcast_to(_to_numpy(self.rate), shape)
        rng = kiln.default_generator.numpy_generator()
        return kiln.tensor(rng.poisson(rate).astype(np.float64), dtype=self.rate.dtype)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        rate, value = kiln.broadcast_tensors(self.rate, _as_tensor(value, self.rate))
        return kiln.xlogy(value, rate) - rate - kiln.lgamma(value + 1)


def _clamp_by_zero(x):
    return (x.clamp(min=0) + x - x.clamp(max=0)) / 2


class Binomial(Distribution):
    """Successes in ``total_count`` trials of probability ``probs`` (or
    ``sigmoid(logits)``)."""

    arg_constraints = {
        "total_count": constraints.nonnegative_integer,
        "probs": constraints.unit_interval,
        "logits": constraints.real,
    }
    has_enumerate_support = True

    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        self._given = ("total_count", "probs" if probs is not None else "logits")  # (repr)
        if probs is not None:
            self.total_count, self.probs = broadcast_all(total_count, probs)
            self.total_count = self.total_count.type_as(self.probs)
        else:
            self.total_count, self.logits = broadcast_all(total_count, logits)
            self.total_count = self.total_count.type_as(self.logits)
        self._param = self.probs if probs is not None else self.logits
        super().__init__(self._param.shape, (), validate_args)
        if probs is not None:
            self.logits = probs_to_logits(self.probs, is_binary=True)
        else:
            self.probs = logits_to_probs(self.logits, is_binary=True)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self.total_count)

    @property
    def mean(self):
        return self.total_count * self.probs

    @property
    def mode(self):
        return ((self.total_count + 1) * self.probs).floor().clamp(max=self.total_count)

    @property
    def variance(self):
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        _host_draw("Binomial")
        n = np.broadcast_to(_to_numpy(self.total_count), shape).astype(np.int64)
        p = np.broadcast_to(_to_numpy(self.probs), shape)
        rng = kiln.default_generator.numpy_generator()
        return kiln.tensor(rng.binomial(n, p).astype(np.float64), dtype=self.probs.dtype)

    def log_prob(self, value):
        value = _as_tensor(value, self.probs)
        if self._validate_args:
            self._validate_sample(value)
        log_factorial_n = kiln.lgamma(self.total_count + 1)
        log_factorial_k = kiln.lgamma(value + 1)
        log_factorial_nmk = kiln.lgamma(self.total_count - value + 1)
        normalize_term = (
            self.total_count * _clamp_by_zero(self.logits)
            + self.total_count * kiln.log1p(kiln.exp(-kiln.abs(self.logits)))
            - log_factorial_n
        )
        return value * self.logits - normalize_term - log_factorial_k - log_factorial_nmk

    def entropy(self):
        total_count = int(self.total_count.max().item())
        if not bool((self.total_count == total_count).all()):
            raise NotImplementedError("Inhomogeneous total count not supported by `entropy`.")
        log_prob = self.log_prob(self.enumerate_support(False))
        return -(kiln.exp(log_prob) * log_prob).sum(0)

    def enumerate_support(self, expand=True):
        total_count = int(self.total_count.max().item())
        if not bool((self.total_count == total_count).all()):
            raise NotImplementedError(
                "Inhomogeneous total count not supported by `enumerate_support`."
            )
        values = kiln.arange(1 + total_count, dtype=self._param.dtype)
        values = values.view((-1,) + (1,) * len(self._batch_shape))
        if expand:
            values = values.expand((-1,) + tuple(self._batch_shape))
        return values


class Geometric(Distribution):
    """Failures before the first success of probability ``probs`` (support 0, 1, ...)."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            (self.probs,) = broadcast_all(probs)
        else:
            (self.logits,) = broadcast_all(logits)
        probs_or_logits = probs if probs is not None else logits
        super().__init__(
            self.__dict__.get("probs", self.__dict__.get("logits")).shape, (), validate_args
        )
        if probs is not None:
            if self._validate_args and not kiln.is_tracing() and not bool((self.probs > 0).all()):
                raise ValueError(
                    f"Expected parameter probs ({type(probs_or_logits).__name__} of shape "
                    f"{tuple(self.probs.shape)}) of distribution {self!r} to be positive but "
                    f"found invalid values:\n{self.probs}"
                )
            self.logits = probs_to_logits(self.probs, is_binary=True)
        else:
            self.probs = logits_to_probs(self.logits, is_binary=True)

    @property
    def mean(self):
        return 1.0 / self.probs - 1.0

    @property
    def mode(self):
        return kiln.zeros_like(self.probs)

    @property
    def variance(self):
        return (1.0 / self.probs - 1.0) / self.probs

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        tiny = kiln.finfo(self.probs.dtype).tiny
        with kiln.no_grad():
            u = kiln.rand(shape, dtype=self.probs.dtype).clamp(min=tiny)
            return (u.log() / kiln.log1p(-self.probs)).floor()

    def log_prob(self, value):
        value = _as_tensor(value, self.probs)
        if self._validate_args:
            self._validate_sample(value)
        value, probs = kiln.broadcast_tensors(value, self.probs)
        probs = kiln.where((probs == 1) & (value == 0), kiln.zeros_like(probs), probs)
        return value * kiln.log1p(-probs) + self.probs.log()

    def entropy(self):
        return (
            kiln.nn.functional.binary_cross_entropy_with_logits(
                self.logits, self.probs, reduction="none"
            )
            / self.probs
        )


class StudentT(Distribution):
    """Student's t with ``df`` degrees of freedom, location ``loc`` and scale ``scale``."""

    arg_constraints = {
        "df": constraints.positive,
        "loc": constraints.real,
        "scale": constraints.positive,
    }
    support = constraints.real
    has_rsample = True

    def __init__(self, df, loc=0.0, scale=1.0, validate_args=None):
        self.df, self.loc, self.scale = broadcast_all(df, loc, scale)
        self._chi2 = Chi2(self.df, validate_args=False)
        super().__init__(self.df.shape, (), validate_args)

    def expand(self, batch_shape, _instance=None):
        new = super().expand(batch_shape, _instance)
        new._chi2 = self._chi2.expand(_shape(batch_shape))
        return new

    @property
    def mean(self):
        return kiln.where(self.df > 1, self.loc, kiln.full_like(self.loc, float("nan")))

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        df = self.df
        v = self.scale.pow(2) * df / (df - 2)
        v = kiln.where(df > 2, v, kiln.full_like(v, float("inf")))
        return kiln.where(df <= 1, kiln.full_like(v, float("nan")), v)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        X = kiln.randn(shape, dtype=self.df.dtype)
        Z = self._chi2.rsample(sample_shape)
        Y = X * kiln.rsqrt(Z / self.df)
        return self.loc + self.scale * Y

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        y = (value - self.loc) / self.scale
        Z = (
            self.scale.log()
            + 0.5 * self.df.log()
            + 0.5 * math.log(math.pi)
            + kiln.lgamma(0.5 * self.df)
            - kiln.lgamma(0.5 * (self.df + 1.0))
        )
        return -0.5 * (self.df + 1.0) * kiln.log1p(y**2.0 / self.df) - Z

    def entropy(self):
        lbeta = kiln.lgamma(0.5 * self.df) + math.lgamma(0.5) - kiln.lgamma(0.5 * (self.df + 1))
        return (
            self.scale.log()
            + 0.5
            * (self.df + 1)
            * (kiln.digamma(0.5 * (self.df + 1)) - kiln.digamma(0.5 * self.df))
            + 0.5 * self.df.log()
            + lbeta
        )


class Cauchy(Distribution):
    """``1 / (pi scale (1 + ((x - loc) / scale)^2))``."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = broadcast_all(loc, scale)
        super().__init__(self.loc.shape, (), validate_args)

    @property
    def mean(self):
        return kiln.full(self._extended_shape(), float("nan"), dtype=self.loc.dtype)

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return kiln.full(self._extended_shape(), float("inf"), dtype=self.loc.dtype)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        u = kiln.rand(shape, dtype=self.loc.dtype)
        eps = kiln.tan(math.pi * (u - 0.5))
        return self.loc + eps * self.scale

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return (
            -math.log(math.pi) - self.scale.log() - (((value - self.loc) / self.scale) ** 2).log1p()
        )

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        return kiln.atan((value - self.loc) / self.scale) / math.pi + 0.5

    def icdf(self, value):
        return kiln.tan(math.pi * (value - 0.5)) * self.scale + self.loc

    def entropy(self):
        return math.log(4 * math.pi) + self.scale.log()


class MixtureSameFamily(Distribution):
    """A mixture of ``component_distribution``'s rightmost batch dimension weighted by the
    ``Categorical`` ``mixture_distribution``."""

    arg_constraints: dict = {}
    has_rsample = False

    def __init__(self, mixture_distribution, component_distribution, validate_args=None):
        self._mixture_distribution = mixture_distribution
        self._component_distribution = component_distribution
        if not isinstance(self._mixture_distribution, Categorical):
            raise ValueError("The Mixture distribution needs to be an instance of Categorical")
        if not isinstance(self._component_distribution, Distribution):
            raise ValueError(
                "The Component distribution needs to be an instance of "
                "kiln.distributions.Distribution"
            )
        mdbs = tuple(self._mixture_distribution.batch_shape)
        cdbs = tuple(self._component_distribution.batch_shape)[:-1]
        for size1, size2 in zip(reversed(mdbs), reversed(cdbs), strict=False):
            if size1 != 1 and size2 != 1 and size1 != size2:
                raise ValueError(
                    f"`mixture_distribution.batch_shape` ({mdbs}) is not compatible with "
                    f"`component_distribution.batch_shape`({cdbs})"
                )
        km = self._mixture_distribution.logits.shape[-1]
        kc = self._component_distribution.batch_shape[-1]
        if km is not None and kc is not None and km != kc:
            raise ValueError(
                f"`mixture_distribution component` ({km}) does not equal "
                f"`component_distribution.batch_shape[-1]` ({kc})"
            )
        self._num_component = km
        event_shape = self._component_distribution.event_shape
        self._event_ndims = len(event_shape)
        super().__init__(cdbs, event_shape, validate_args)

    def expand(self, batch_shape, _instance=None):
        batch_shape = _shape(batch_shape)
        new = self.__new__(type(self)) if _instance is None else _instance
        new._component_distribution = self._component_distribution.expand(
            batch_shape + (self._num_component,)
        )
        new._mixture_distribution = self._mixture_distribution.expand(batch_shape)
        new._num_component = self._num_component
        new._event_ndims = self._event_ndims
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @constraints.dependent_property
    def support(self):
        return constraints.MixtureSameFamilyConstraint(self._component_distribution.support)

    @property
    def mixture_distribution(self):
        return self._mixture_distribution

    @property
    def component_distribution(self):
        return self._component_distribution

    @property
    def mean(self):
        probs = self._pad_mixture_dimensions(self.mixture_distribution.probs)
        return (probs * self.component_distribution.mean).sum(-1 - self._event_ndims)

    @property
    def variance(self):
        probs = self._pad_mixture_dimensions(self.mixture_distribution.probs)
        mean_cond_var = (probs * self.component_distribution.variance).sum(-1 - self._event_ndims)
        var_cond_mean = (
            probs * (self.component_distribution.mean - self._pad(self.mean)).pow(2.0)
        ).sum(-1 - self._event_ndims)
        return mean_cond_var + var_cond_mean

    def cdf(self, x):
        x = self._pad(x)
        cdf_x = self.component_distribution.cdf(x)
        mix_prob = self.mixture_distribution.probs
        return (cdf_x * mix_prob).sum(-1)

    def log_prob(self, x):
        if self._validate_args:
            self._validate_sample(x)
        x = self._pad(x)
        log_prob_x = self.component_distribution.log_prob(x)  # [S, B, k]
        log_mix_prob = kiln.log_softmax(self.mixture_distribution.logits, -1)  # [B, k]
        return kiln.logsumexp(log_prob_x + log_mix_prob, -1)  # [S, B]

    def sample(self, sample_shape=()):
        with kiln.no_grad():
            sample_len = len(_shape(sample_shape))
            batch_len = len(self.batch_shape)
            gather_dim = sample_len + batch_len
            es = self.event_shape
            mix_sample = self.mixture_distribution.sample(sample_shape)  # [S, B]
            mix_shape = tuple(mix_sample.shape)
            comp_samples = self.component_distribution.sample(sample_shape)  # [S, B, k, E]
            mix_sample_r = mix_sample.reshape(mix_shape + (1,) * (len(es) + 1))
            mix_sample_r = mix_sample_r.expand(mix_shape + (1,) + tuple(es)).long()
            full = tuple(comp_samples.shape)
            mix_sample_r = mix_sample_r.expand(full[:gather_dim] + (1,) + full[gather_dim + 1 :])
            samples = kiln.gather(comp_samples, gather_dim, mix_sample_r)
            return samples.squeeze(gather_dim)

    def _pad(self, x):
        return x.unsqueeze(-1 - self._event_ndims)

    def _pad_mixture_dimensions(self, x):
        dist_batch_ndims = len(self.batch_shape)
        cat_batch_ndims = len(self.mixture_distribution.batch_shape)
        pad_ndims = 0 if cat_batch_ndims == 1 else dist_batch_ndims - cat_batch_ndims
        xs = tuple(x.shape)
        return x.reshape(xs[:-1] + (1,) * pad_ndims + xs[-1:] + (1,) * self._event_ndims)

    def __repr__(self):
        return (
            f"MixtureSameFamily(\n  {self.mixture_distribution!r},\n  "
            f"{self.component_distribution!r})"
        )


class Multinomial(Distribution):
    """Counts of ``total_count`` draws from a ``Categorical(probs or logits)``."""

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}

    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        if not isinstance(total_count, numbers.Integral):
            raise NotImplementedError("inhomogeneous total_count is not supported")
        self.total_count = int(total_count)
        self._categorical = Categorical(probs=probs, logits=logits, validate_args=validate_args)
        self._binomial = Binomial(total_count=total_count, probs=self._categorical.probs)
        batch_shape = self._categorical.batch_shape
        event_shape = self._categorical.param_shape[-1:]
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        batch_shape = _shape(batch_shape)
        new = self.__new__(type(self)) if _instance is None else _instance
        new.total_count = self.total_count
        new._categorical = self._categorical.expand(batch_shape)
        new._binomial = Binomial(self.total_count, probs=new._categorical.probs)
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self):
        return constraints.multinomial(self.total_count)

    @property
    def probs(self):
        return self._categorical.probs

    @property
    def logits(self):
        return self._categorical.logits

    @property
    def param_shape(self):
        return self._categorical.param_shape

    @property
    def mean(self):
        return self.probs * self.total_count

    @property
    def variance(self):
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        shape = _shape(sample_shape)
        samples = self._categorical.sample((self.total_count,) + shape)  # [n, S, B]
        k = self._categorical.param_shape[-1]
        one_hot = kiln.nn.functional.one_hot(samples, k).to(self.probs.dtype)
        return one_hot.sum(0)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        logits, value = kiln.broadcast_tensors(self.logits, value)
        log_factorial_n = math.lgamma(self.total_count + 1)
        log_factorial_xs = kiln.lgamma(value + 1).sum(-1)
        logits = kiln.where((value == 0) & (logits == -math.inf), kiln.zeros_like(logits), logits)
        log_powers = (logits * value).sum(-1)
        return log_factorial_n - log_factorial_xs + log_powers

    def entropy(self):
        n = kiln.tensor(float(self.total_count), dtype=self.probs.dtype)
        cat_entropy = self._categorical.entropy()
        term1 = n * cat_entropy - kiln.lgamma(n + 1)
        support = self._binomial.enumerate_support(expand=False)[1:]
        binomial_probs = kiln.exp(self._binomial.log_prob(support))
        weights = kiln.lgamma(support + 1)
        term2 = (binomial_probs * weights).sum([0, -1])
        return term1 + term2


class NegativeBinomial(Distribution):
    """Successes before ``total_count`` failures, each trial succeeding with ``probs``."""

    arg_constraints = {
        "total_count": constraints.greater_than_eq(0),
        "probs": constraints.half_open_interval(0.0, 1.0),
        "logits": constraints.real,
    }
    support = constraints.nonnegative_integer

    def __init__(self, total_count, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            self.total_count, self.probs = broadcast_all(total_count, probs)
            self.total_count = self.total_count.type_as(self.probs)
        else:
            self.total_count, self.logits = broadcast_all(total_count, logits)
            self.total_count = self.total_count.type_as(self.logits)
        param = self.probs if probs is not None else self.logits
        super().__init__(param.shape, (), validate_args)
        if probs is not None:
            self.logits = probs_to_logits(self.probs, is_binary=True)
        else:
            self.probs = logits_to_probs(self.logits, is_binary=True)

    @property
    def mean(self):
        return self.total_count * kiln.exp(self.logits)

    @property
    def mode(self):
        return ((self.total_count - 1) * self.logits.exp()).floor().clamp(min=0.0)

    @property
    def variance(self):
        return self.mean / kiln.sigmoid(-self.logits)

    def sample(self, sample_shape=()):
        with kiln.no_grad():
            rate = Gamma(
                concentration=self.total_count,
                rate=kiln.exp(-self.logits),
                validate_args=False,
            ).sample(sample_shape)
            return Poisson(rate, validate_args=False).sample()

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        log_unnormalized_prob = self.total_count * kiln.nn.functional.logsigmoid(
            -self.logits
        ) + value * kiln.nn.functional.logsigmoid(self.logits)
        log_normalization = (
            -kiln.lgamma(self.total_count + value)
            + kiln.lgamma(1.0 + value)
            + kiln.lgamma(self.total_count)
        )
        log_normalization = kiln.where(
            self.total_count + value == 0.0, kiln.zeros_like(log_normalization), log_normalization
        )
        return log_unnormalized_prob - log_normalization


__all__ += ["Multinomial", "NegativeBinomial"]


class FisherSnedecor(Distribution):
    """The F distribution with ``df1`` and ``df2`` degrees of freedom."""

    arg_constraints = {"df1": constraints.positive, "df2": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, df1, df2, validate_args=None):
        self.df1, self.df2 = broadcast_all(df1, df2)
        self._gamma1 = Gamma(self.df1 * 0.5, self.df1, validate_args=False)
        self._gamma2 = Gamma(self.df2 * 0.5, self.df2, validate_args=False)
        super().__init__(self.df1.shape, (), validate_args)

    def expand(self, batch_shape, _instance=None):
        new = super().expand(batch_shape, _instance)
        new._gamma1 = self._gamma1.expand(_shape(batch_shape))
        new._gamma2 = self._gamma2.expand(_shape(batch_shape))
        return new

    @property
    def mean(self):
        df2 = kiln.where(self.df2 > 2, self.df2, kiln.full_like(self.df2, math.nan))
        return df2 / (df2 - 2)

    @property
    def mode(self):
        mode = (self.df1 - 2) / self.df1 * self.df2 / (self.df2 + 2)
        return kiln.where(self.df1 > 2, mode, kiln.full_like(mode, math.nan))

    @property
    def variance(self):
        df2 = kiln.where(self.df2 > 4, self.df2, kiln.full_like(self.df2, math.nan))
        return 2 * df2.pow(2) * (self.df1 + df2 - 2) / (self.df1 * (df2 - 2).pow(2) * (df2 - 4))

    def rsample(self, sample_shape=()):
        tiny = kiln.finfo(self.df1.dtype).tiny
        X1 = self._gamma1.rsample(sample_shape)
        X2 = self._gamma2.rsample(sample_shape).clamp(min=tiny)
        return (X1 / X2).clamp(min=tiny)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        ct1 = self.df1 * 0.5
        ct2 = self.df2 * 0.5
        ct3 = self.df1 / self.df2
        t1 = (ct1 + ct2).lgamma() - ct1.lgamma() - ct2.lgamma()
        t2 = ct1 * ct3.log() + (ct1 - 1) * kiln.log(value)
        t3 = (ct1 + ct2) * kiln.log1p(ct3 * value)
        return t1 + t2 - t3


__all__ += ["FisherSnedecor"]


class ContinuousBernoulli(Distribution):
    """The continuous Bernoulli on ``[0, 1]`` (Loaiza-Ganem & Cunningham 2019), with
    PyTorch's Taylor expansions inside ``lims`` around ``probs = 0.5``."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    _mean_carrier_measure = 0
    has_rsample = True

    def __init__(self, probs=None, logits=None, lims=(0.499, 0.501), validate_args=None):
        from .distribution import clamp_probs

        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            (probs,) = broadcast_all(probs)
            self.probs = probs
            param = probs
        else:
            (self.logits,) = broadcast_all(logits)
            param = self.logits
        self._lims = lims
        super().__init__(param.shape, (), validate_args)
        if probs is not None:
            self.probs = clamp_probs(self.probs)
            self.logits = probs_to_logits(self.probs, is_binary=True)
        else:
            self.probs = clamp_probs(logits_to_probs(self.logits, is_binary=True))

    def _outside_unstable_region(self):
        return (self.probs <= self._lims[0]) | (self.probs > self._lims[1])

    def _cut_probs(self):
        return kiln.where(
            self._outside_unstable_region(),
            self.probs,
            self._lims[0] * kiln.ones_like(self.probs),
        )

    def _cont_bern_log_norm(self):
        cut_probs = self._cut_probs()
        below = kiln.where(cut_probs <= 0.5, cut_probs, kiln.zeros_like(cut_probs))
        above = kiln.where(cut_probs >= 0.5, cut_probs, kiln.ones_like(cut_probs))
        log_norm = kiln.log(kiln.abs(kiln.log1p(-cut_probs) - kiln.log(cut_probs))) - kiln.where(
            cut_probs <= 0.5, kiln.log1p(-2.0 * below), kiln.log(2.0 * above - 1.0)
        )
        x = (self.probs - 0.5).pow(2)
        taylor = math.log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * x) * x
        return kiln.where(self._outside_unstable_region(), log_norm, taylor)

    @property
    def mean(self):
        cut_probs = self._cut_probs()
        mus = cut_probs / (2.0 * cut_probs - 1.0) + 1.0 / (
            kiln.log1p(-cut_probs) - kiln.log(cut_probs)
        )
        x = self.probs - 0.5
        taylor = 0.5 + (1.0 / 3.0 + 16.0 / 45.0 * x.pow(2)) * x
        return kiln.where(self._outside_unstable_region(), mus, taylor)

    @property
    def stddev(self):
        return self.variance.sqrt()

    @property
    def variance(self):
        cut_probs = self._cut_probs()
        vars_ = cut_probs * (cut_probs - 1.0) / (1.0 - 2.0 * cut_probs).pow(2) + 1.0 / (
            kiln.log1p(-cut_probs) - kiln.log(cut_probs)
        ).pow(2)
        x = (self.probs - 0.5).pow(2)
        taylor = 1.0 / 12.0 - (1.0 / 15.0 - 128.0 / 945.0 * x) * x
        return kiln.where(self._outside_unstable_region(), vars_, taylor)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        u = kiln.rand(shape, dtype=self.probs.dtype)
        return self.icdf(u)

    def log_prob(self, value):
        value = _as_tensor(value, self.probs)
        if self._validate_args:
            self._validate_sample(value)
        logits, value = kiln.broadcast_tensors(self.logits, value)
        return (
            -kiln.nn.functional.binary_cross_entropy_with_logits(logits, value, reduction="none")
            + self._cont_bern_log_norm()
        )

    def cdf(self, value):
        if self._validate_args:
            self._validate_sample(value)
        cut_probs = self._cut_probs()
        cdfs = (cut_probs.pow(value) * (1.0 - cut_probs).pow(1.0 - value) + cut_probs - 1.0) / (
            2.0 * cut_probs - 1.0
        )
        unbounded = kiln.where(self._outside_unstable_region(), cdfs, value)
        return kiln.where(
            value <= 0.0,
            kiln.zeros_like(value),
            kiln.where(value >= 1.0, kiln.ones_like(value), unbounded),
        )

    def icdf(self, value):
        cut_probs = self._cut_probs()
        return kiln.where(
            self._outside_unstable_region(),
            (kiln.log1p(-cut_probs + value * (2.0 * cut_probs - 1.0)) - kiln.log1p(-cut_probs))
            / (kiln.log(cut_probs) - kiln.log1p(-cut_probs)),
            value,
        )

    def entropy(self):
        log_probs0 = kiln.log1p(-self.probs)
        log_probs1 = kiln.log(self.probs)
        return self.mean * (log_probs0 - log_probs1) - self._cont_bern_log_norm() - log_probs0


def _log_i(x, order):
    """``log I_order(x)`` for ``x > 0`` through the exponentially scaled Bessel functions."""
    scaled = kiln.special.i0e(x) if order == 0 else kiln.special.i1e(x)
    return scaled.log() + x


class VonMises(Distribution):
    """The circular normal: ``exp(concentration cos(x - loc)) / (2 pi I0(concentration))``;
    samples are drawn on the host (NumPy) as PyTorch has no ``rsample`` for it."""

    arg_constraints = {"loc": constraints.real, "concentration": constraints.positive}
    support = constraints.real
    has_rsample = False

    def __init__(self, loc, concentration, validate_args=None):
        self.loc, self.concentration = broadcast_all(loc, concentration)
        super().__init__(self.loc.shape, (), validate_args)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        log_prob = self.concentration * kiln.cos(value - self.loc)
        return log_prob - math.log(2 * math.pi) - _log_i(self.concentration, 0)

    def sample(self, sample_shape=()):
        _host_draw("VonMises")
        shape = self._extended_shape(sample_shape)
        loc = np.broadcast_to(_to_numpy(self.loc), shape)
        kappa = np.broadcast_to(_to_numpy(self.concentration), shape)
        rng = kiln.default_generator.numpy_generator()
        x = rng.vonmises(0.0, kappa) + loc
        x = (x + np.pi) % (2 * np.pi) - np.pi  # torch: (x + pi) % (2 pi) - pi
        return kiln.tensor(x, dtype=self.loc.dtype)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return 1 - (_log_i(self.concentration, 1) - _log_i(self.concentration, 0)).exp()


__all__ += ["ContinuousBernoulli", "VonMises"]


class GeneralizedPareto(Distribution):
    """The generalized Pareto with ``loc``, ``scale`` and ``concentration`` (Exponential at
    concentration 0, Pareto above, bounded support below), as PyTorch / TFP."""

    arg_constraints = {
        "loc": constraints.real,
        "scale": constraints.positive,
        "concentration": constraints.real,
    }
    has_rsample = True

    def __init__(self, loc, scale, concentration, validate_args=None):
        self.loc, self.scale, self.concentration = broadcast_all(loc, scale, concentration)
        super().__init__(self.loc.shape, (), validate_args)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        u = kiln.rand(shape, dtype=self.loc.dtype)
        return self.icdf(u)

    def _eq_zero(self):
        return kiln.isclose(self.concentration, kiln.zeros_like(self.concentration))

    def _safe_conc(self, eq_zero):
        return kiln.where(eq_zero, kiln.ones_like(self.concentration), self.concentration)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        eq_zero = self._eq_zero()
        safe_conc = self._safe_conc(eq_zero)
        y = 1 / safe_conc + kiln.ones_like(z)
        where_nonzero = kiln.where(y == 0, y, y * kiln.log1p(safe_conc * z))
        return -self.scale.log() - kiln.where(eq_zero, z, where_nonzero)

    def log_survival_function(self, value):
        if self._validate_args:
            self._validate_sample(value)
        z = (value - self.loc) / self.scale
        eq_zero = self._eq_zero()
        safe_conc = self._safe_conc(eq_zero)
        where_nonzero = -kiln.log1p(safe_conc * z) / safe_conc
        return kiln.where(eq_zero, -z, where_nonzero)

    def log_cdf(self, value):
        return kiln.log1p(-kiln.exp(self.log_survival_function(value)))

    def cdf(self, value):
        return kiln.exp(self.log_cdf(value))

    def icdf(self, value):
        eq_zero = self._eq_zero()
        safe_conc = self._safe_conc(eq_zero)
        logu = kiln.log1p(-value)
        where_nonzero = self.loc + self.scale / safe_conc * kiln.expm1(-safe_conc * logu)
        where_zero = self.loc - self.scale * logu
        return kiln.where(eq_zero, where_zero, where_nonzero)

    @property
    def mean(self):
        valid = self.concentration < 1
        safe_conc = kiln.where(valid, self.concentration, kiln.full_like(self.concentration, 0.5))
        result = self.loc + self.scale / (1 - safe_conc)
        return kiln.where(valid, result, kiln.full_like(result, math.nan))

    @property
    def variance(self):
        valid = self.concentration < 0.5
        safe_conc = kiln.where(valid, self.concentration, kiln.full_like(self.concentration, 0.25))
        result = self.scale**2 / ((1 - safe_conc) ** 2 * (1 - 2 * safe_conc))
        return kiln.where(valid, result, kiln.full_like(result, math.nan))

    def entropy(self):
        ans = kiln.log(self.scale) + self.concentration + 1
        return ans.expand(tuple(self._batch_shape))

    @property
    def mode(self):
        return self.loc

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        lower = self.loc
        upper = kiln.where(
            self.concentration < 0,
            lower - self.scale / self.concentration,
            kiln.full_like(lower, math.inf),
        )
        return constraints.interval(lower, upper)


__all__ += ["GeneralizedPareto"]


class LKJCholesky(Distribution):
    """The LKJ distribution over Cholesky factors of ``dim x dim`` correlation matrices,
    ``p(L) ~ prod_i L_ii^(dim - i + 2 (concentration - 1))``; sampled by the onion method."""

    arg_constraints = {"concentration": constraints.positive}
    support = constraints.corr_cholesky

    def __init__(self, dim, concentration=1.0, validate_args=None):
        if dim < 2:
            raise ValueError(
                f"Expected dim to be an integer greater than or equal to 2. Found dim={dim}."
            )
        self.dim = dim
        (self.concentration,) = broadcast_all(concentration)
        batch_shape = tuple(self.concentration.shape)
        event_shape = (dim, dim)
        marginal_conc = self.concentration + 0.5 * (self.dim - 2)
        offset = kiln.arange(self.dim - 1, dtype=self.concentration.dtype)
        offset = kiln.cat([kiln.zeros(1, dtype=offset.dtype), offset])
        beta_conc1 = offset + 0.5
        beta_conc0 = marginal_conc.unsqueeze(-1) - 0.5 * offset
        self._beta = Beta(beta_conc1, beta_conc0)
        super().__init__(batch_shape, event_shape, validate_args)

    def expand(self, batch_shape, _instance=None):
        batch_shape = _shape(batch_shape)
        new = self.__new__(type(self)) if _instance is None else _instance
        new.dim = self.dim
        new.concentration = self.concentration.expand(batch_shape)
        new._beta = self._beta.expand(batch_shape + (self.dim,))
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    def sample(self, sample_shape=()):
        with kiln.no_grad():
            y = self._beta.sample(sample_shape).unsqueeze(-1)
            u_normal = kiln.randn(self._extended_shape(sample_shape), dtype=y.dtype).tril(-1)
            norm = u_normal.norm(dim=-1, keepdim=True)
            first_row = kiln.arange(self.dim).reshape(-1, 1) == 0
            u_hypersphere = kiln.where(
                first_row, kiln.zeros_like(u_normal), u_normal / kiln.where(first_row, 1.0, norm)
            )
            w = kiln.sqrt(y) * u_hypersphere
            tiny = kiln.finfo(w.dtype).tiny
            diag_elems = kiln.clamp(1 - kiln.sum(w**2, dim=-1), min=tiny).sqrt()
            return w + kiln.diag_embed(diag_elems)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        diag_elems = value.diagonal(dim1=-1, dim2=-2)[..., 1:]
        order = kiln.arange(2, self.dim + 1, dtype=self.concentration.dtype)
        order = 2 * (self.concentration - 1).unsqueeze(-1) + self.dim - order
        unnormalized_log_pdf = kiln.sum(order * diag_elems.log(), dim=-1)
        dm1 = self.dim - 1
        alpha = self.concentration + 0.5 * dm1
        denominator = kiln.lgamma(alpha) * dm1
        numerator = kiln.mvlgamma(alpha - 0.5, dm1)
        pi_constant = 0.5 * dm1 * math.log(math.pi)
        normalize_term = pi_constant + numerator - denominator
        return unnormalized_log_pdf - normalize_term


__all__ += ["LKJCholesky"]


def _mvdigamma(x, p: int):
    offsets = kiln.arange(p, dtype=x.dtype) / 2
    return kiln.digamma(x.unsqueeze(-1) - offsets).sum(-1)


class Wishart(Distribution):
    """The Wishart over ``p x p`` positive-definite matrices with ``df`` degrees of freedom
    and one of ``covariance_matrix``, ``precision_matrix``, ``scale_tril``; ``rsample`` by
    the Bartlett decomposition (chi-square diagonal, reparameterized through ``Chi2``).
    PyTorch redraws singular samples up to ten times; kiln does not (they need
    ``df < p``-ish and are rare)."""

    support = constraints.positive_definite
    has_rsample = True

    @property
    def arg_constraints(self):
        return {
            "covariance_matrix": constraints.positive_definite,
            "precision_matrix": constraints.positive_definite,
            "scale_tril": constraints.lower_cholesky,
            "df": constraints.greater_than(self.event_shape[-1] - 1),
        }

    def __init__(
        self,
        df,
        covariance_matrix=None,
        precision_matrix=None,
        scale_tril=None,
        validate_args=None,
    ):
        given = [m for m in (covariance_matrix, precision_matrix, scale_tril) if m is not None]
        if len(given) != 1:
            raise ValueError(
                "Exactly one of covariance_matrix or precision_matrix or scale_tril may be "
                "specified."
            )
        param = given[0]
        if param.dim() < 2:
            raise ValueError(
                "scale_tril must be at least two-dimensional, with optional leading batch "
                "dimensions"
            )
        if isinstance(df, numbers.Number):
            batch_shape = tuple(param.shape[:-2])
            self.df = kiln.tensor(float(df), dtype=param.dtype)
        else:
            batch_shape = tuple(kiln.broadcast_shapes(tuple(param.shape[:-2]), tuple(df.shape)))
            self.df = df.expand(batch_shape)
        event_shape = tuple(param.shape[-2:])
        if bool((self.df <= event_shape[-1] - 1).any()):
            raise ValueError(
                f"Value of df={df} expected to be greater than ndim - 1 = {event_shape[-1] - 1}."
            )
        full = batch_shape + event_shape
        if scale_tril is not None:
            self.scale_tril = param.expand(full)
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self.covariance_matrix = param.expand(full)
            self._unbroadcasted_scale_tril = kiln.linalg.cholesky(covariance_matrix)
        else:
            self.precision_matrix = param.expand(full)
            self._unbroadcasted_scale_tril = kiln.linalg.cholesky(kiln.linalg.inv(precision_matrix))
        super().__init__(batch_shape, event_shape, validate_args=validate_args)
        self._make_chi2()

    def _make_chi2(self):
        p = self._event_shape[-1]
        offsets = kiln.arange(p, dtype=self._unbroadcasted_scale_tril.dtype)
        df = self.df.expand(tuple(self._batch_shape)).unsqueeze(-1) - offsets
        self._dist_chi2 = Chi2(df, validate_args=False)

    def expand(self, batch_shape, _instance=None):
        batch_shape = _shape(batch_shape)
        new = self.__new__(type(self)) if _instance is None else _instance
        cov_shape = batch_shape + tuple(self.event_shape)
        new._unbroadcasted_scale_tril = self._unbroadcasted_scale_tril.expand(cov_shape)
        new.df = self.df.expand(batch_shape)
        for name in ("covariance_matrix", "scale_tril", "precision_matrix"):
            if name in self.__dict__:
                new.__dict__[name] = self.__dict__[name].expand(cov_shape)
        Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
        new._validate_args = self._validate_args
        new._make_chi2()
        return new

    def _full(self):
        return tuple(self._batch_shape) + tuple(self._event_shape)

    def __getattr__(self, name):
        # scale_tril / covariance_matrix / precision_matrix on demand (as torch's
        # lazy_property), whichever was not given
        L = self.__dict__.get("_unbroadcasted_scale_tril")
        if L is None or name not in ("scale_tril", "covariance_matrix", "precision_matrix"):
            raise AttributeError(name)
        if name == "scale_tril":
            return L.expand(self._full())
        if name == "covariance_matrix":
            return (L @ L.transpose(-2, -1)).expand(self._full())
        eye = kiln.eye(self._event_shape[-1], dtype=L.dtype)
        return kiln.cholesky_solve(eye.expand(L.shape), L).expand(self._full())

    def _df_view(self):
        return self.df.expand(tuple(self._batch_shape)).reshape(tuple(self._batch_shape) + (1, 1))

    @property
    def mean(self):
        return self._df_view() * self.covariance_matrix

    @property
    def mode(self):
        factor = self.df.expand(tuple(self._batch_shape)) - self._event_shape[-1] - 1
        factor = kiln.where(factor > 0, factor, kiln.full_like(factor, math.nan))
        return factor.reshape(tuple(self._batch_shape) + (1, 1)) * self.covariance_matrix

    @property
    def variance(self):
        V = self.covariance_matrix
        diag_V = V.diagonal(dim1=-2, dim2=-1)
        return self._df_view() * (V.pow(2) + diag_V.unsqueeze(-1) * diag_V.unsqueeze(-2))

    def rsample(self, sample_shape=()):
        p = self._event_shape[-1]
        sample_shape = _shape(sample_shape)
        chi = self._dist_chi2.rsample(sample_shape).sqrt()
        chi = chi.clamp(min=kiln.finfo(chi.dtype).eps)
        lower = kiln.randn(sample_shape + tuple(self._batch_shape) + (p, p), dtype=chi.dtype)
        noise = kiln.diag_embed(chi) + lower.tril(-1)
        chol = self._unbroadcasted_scale_tril @ noise
        return chol @ chol.transpose(-2, -1)

    def _half_log_det_term(self):
        p = self._event_shape[-1]
        L = self._unbroadcasted_scale_tril
        return p * math.log(2.0) / 2 + L.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob(self, value):
        if self._validate_args:
            self._validate_sample(value)
        nu = self.df
        p = self._event_shape[-1]
        L = self._unbroadcasted_scale_tril
        batch = tuple(value.shape[:-2])
        solved = kiln.cholesky_solve(value, L.expand(batch + (p, p)))
        return (
            -nu * self._half_log_det_term()
            - kiln.mvlgamma(nu / 2, p=p)
            + (nu - p - 1) / 2 * kiln.linalg.slogdet(value).logabsdet
            - solved.diagonal(dim1=-2, dim2=-1).sum(dim=-1) / 2
        )

    def entropy(self):
        nu = self.df
        p = self._event_shape[-1]
        return (
            (p + 1) * self._half_log_det_term()
            + kiln.mvlgamma(nu / 2, p=p)
            - (nu - p - 1) / 2 * _mvdigamma(nu / 2, p=p)
            + nu * p / 2
        )


__all__ += ["Wishart"]
