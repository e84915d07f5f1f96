"""The first families of ``kiln.distributions``: the ones PyTorch tutorials sample from
(``Categorical`` for a policy's actions, ``Normal``, ``Bernoulli``, ``Uniform``,
``OneHotCategorical``, ``MultivariateNormal``, ``LowRankMultivariateNormal``, and
``Independent`` around any), with PyTorch's parameterisations, ``sample``/``rsample``,
``log_prob`` and ``entropy`` (their KL divergences live in ``kl.py``).

Parameters are checked as PyTorch checks them by default (``validate_args``): a probability
vector that is not a simplex, a non-positive scale, or a value outside the support raises
``ValueError``.

>>> import kiln
>>> m = Categorical(probs=kiln.tensor([0.25, 0.75]))
>>> round(m.log_prob(kiln.tensor(1)).item(), 4)
-0.2877
>>> round(Normal(0.0, 1.0).entropy().item(), 4)
1.4189
"""

from __future__ import annotations

import math

import kiln

__all__ = [
    "Distribution",
    "Categorical",
    "Normal",
    "Bernoulli",
    "Uniform",
    "Independent",
    "MultivariateNormal",
    "OneHotCategorical",
]


from . import constraints
from .distribution import Distribution, _as_tensor, _broadcast_all, _shape


class Categorical(Distribution):
    """A choice among ``K`` categories with ``probs`` (normalized along the last axis) or
    ``logits`` (unnormalized log probabilities)."""

    _checks_own_args = True
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    has_enumerate_support = True

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    _param_names = ("probs", "logits")

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        self._given = ("probs",) if probs is not None else ("logits",)  # (for the repr)
        if validate_args is not None:
            self._validate_args = validate_args
        if probs is not None:
            if probs.ndim < 1:
                raise ValueError("`probs` parameter must be at least one-dimensional.")
            self._check(
                kiln.isfinite(probs).all() & (probs >= 0).all(), "probs", probs, "Simplex()"
            )
            self.probs = probs / probs.sum(-1, keepdim=True)
            eps = kiln.finfo(self.probs.dtype).eps
            self.logits = kiln.log(self.probs.clamp(min=eps, max=1 - eps))
        else:
            if logits.ndim < 1:
                raise ValueError("`logits` parameter must be at least one-dimensional.")
            self._check(~kiln.isnan(logits), "logits", logits, "IndependentConstraint(Real(), 1)")
            self.logits = logits - logits.logsumexp(dim=-1, keepdim=True)
            self.probs = kiln.softmax(self.logits, -1)
        self._num_events = self.probs.shape[-1]
        super().__init__(self.probs.shape[:-1], (), validate_args)

    @property
    def param_shape(self):
        return self.probs.shape

    @property
    def mean(self):
        return kiln.full(self._extended_shape(), float("nan"), dtype=self.probs.dtype)

    @property
    def mode(self):
        return self.probs.argmax(dim=-1)

    @property
    def variance(self):
        return kiln.full(self._extended_shape(), float("nan"), dtype=self.probs.dtype)

    def sample(self, sample_shape=()):
        shape = _shape(sample_shape)
        n = math.prod(shape)
        flat = self.probs.detach().reshape(-1, self._num_events)
        drawn = kiln.multinomial(flat, n, True).T  # (n, batch)
        return drawn.reshape(shape + tuple(self._batch_shape))

    def log_prob(self, value):
        if self._validate_args:
            ok = (value >= 0) & (value < self._num_events) & (value == value.floor())
            self._check_value(
                ok, value, f"IntegerInterval(lower_bound=0, upper_bound={self._num_events - 1})"
            )
        value = value.long().unsqueeze(-1)
        value, log_pmf = kiln.broadcast_tensors(value, self.logits)
        value = value[..., :1]
        return log_pmf.gather(-1, value).squeeze(-1)

    def entropy(self):
        min_real = kiln.finfo(self.logits.dtype).min
        logits = kiln.clamp(self.logits, min=min_real)
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand: bool = True):
        values = kiln.arange(self._num_events, dtype=kiln.int64)
        values = values.view((-1,) + (1,) * len(self._batch_shape))
        if expand:
            values = values.expand((-1,) + tuple(self._batch_shape))
        return values


class Normal(Distribution):
    """The Gaussian with mean ``loc`` and standard deviation ``scale``."""

    _checks_own_args = True
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real

    has_rsample = True
    _param_names = ("loc", "scale")

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = _broadcast_all(loc, scale)
        if validate_args is not None:
            self._validate_args = validate_args
        self._check(~kiln.isnan(self.loc), "loc", self.loc, "Real()")
        self._check(self.scale > 0, "scale", self.scale, "GreaterThan(lower_bound=0.0)")
        super().__init__(self.loc.shape, (), validate_args)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def stddev(self):
        return self.scale

    @property
    def variance(self):
        return self.scale.pow(2)

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        with kiln.no_grad():
            return kiln.normal(self.loc.expand(shape), self.scale.expand(shape))

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = kiln.randn(shape, dtype=self.loc.dtype)
        return self.loc + eps * self.scale

    def log_prob(self, value):
        value = _as_tensor(value, self.loc)
        if self._validate_args:
            self._validate_sample(value)
        var = self.scale**2
        log_scale = self.scale.log()
        return -((value - self.loc) ** 2) / (2 * var) - log_scale - math.log(math.sqrt(2 * math.pi))

    def cdf(self, value):
        value = _as_tensor(value, self.loc)
        return 0.5 * (1 + kiln.erf((value - self.loc) * self.scale.reciprocal() / math.sqrt(2)))

    def icdf(self, value):
        value = _as_tensor(value, self.loc)
        return self.loc + self.scale * kiln.erfinv(2 * value - 1) * math.sqrt(2)

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + kiln.log(self.scale)


def _probs_to_logits(probs):
    eps = kiln.finfo(probs.dtype).eps
    ps = probs.clamp(min=eps, max=1 - eps)
    return kiln.log(ps) - kiln.log1p(-ps)


class Bernoulli(Distribution):
    """1 with probability ``probs`` (or ``sigmoid(logits)``), else 0."""

    _checks_own_args = True
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    _param_names = ("probs", "logits")

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        self._given = ("probs",) if probs is not None else ("logits",)  # (for the repr)
        if validate_args is not None:
            self._validate_args = validate_args
        if probs is not None:
            (self.probs,) = _broadcast_all(probs)
            self._check(
                (self.probs >= 0) & (self.probs <= 1),
                "probs",
                self.probs,
                "Interval(lower_bound=0.0, upper_bound=1.0)",
            )
            self.logits = _probs_to_logits(self.probs)
        else:
            (self.logits,) = _broadcast_all(logits)
            self.probs = kiln.sigmoid(self.logits)
        super().__init__(self.probs.shape, (), validate_args)

    @property
    def mean(self):
        return self.probs

    @property
    def mode(self):
        mode = (self.probs >= 0.5).to(self.probs.dtype)
        return mode.masked_fill(self.probs == 0.5, float("nan"))

    @property
    def variance(self):
        return self.probs * (1 - self.probs)

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        with kiln.no_grad():
            return kiln.bernoulli(self.probs.detach().expand(shape))

    def log_prob(self, value):
        value = _as_tensor(value, self.probs)
        if self._validate_args:
            self._check_value((value == 0) | (value == 1), value, "Boolean()")
        logits, value = kiln.broadcast_tensors(self.logits, value)
        return -kiln.nn.functional.binary_cross_entropy_with_logits(logits, value, reduction="none")

    def entropy(self):
        return kiln.nn.functional.binary_cross_entropy_with_logits(
            self.logits, self.probs, reduction="none"
        )


class Uniform(Distribution):
    """Uniform on ``[low, high)``."""

    _checks_own_args = True
    arg_constraints = {
        "low": constraints.dependent(is_discrete=False, event_dim=0),
        "high": constraints.dependent(is_discrete=False, event_dim=0),
    }

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        return constraints.interval(self.low, self.high)

    has_rsample = True
    _param_names = ("low", "high")

    def __init__(self, low, high, validate_args=None):
        self.low, self.high = _broadcast_all(low, high)
        if validate_args is not None:
            self._validate_args = validate_args
        self._check(self.low < self.high, "low", self.low, "LessThan(upper_bound=high)")
        super().__init__(self.low.shape, (), validate_args)

    @property
    def mean(self):
        return (self.high + self.low) / 2

    @property
    def variance(self):
        return (self.high - self.low).pow(2) / 12

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        rand = kiln.rand(shape, dtype=self.low.dtype)
        return self.low + rand * (self.high - self.low)

    def log_prob(self, value):
        value = _as_tensor(value, self.low)
        if self._validate_args:
            self._check_value(
                (value >= self.low) & (value < self.high),
                value,
                "Interval(lower_bound=low, upper_bound=high)",
            )
        lb = self.low.le(value).type_as(self.low)
        ub = self.high.gt(value).type_as(self.low)
        return kiln.log(lb.mul(ub)) - kiln.log(self.high - self.low)

    def cdf(self, value):
        value = _as_tensor(value, self.low)
        return ((value - self.low) / (self.high - self.low)).clamp(min=0, max=1)

    def entropy(self):
        return kiln.log(self.high - self.low)


class Independent(Distribution):
    """``base_distribution`` with its rightmost ``reinterpreted_batch_ndims`` batch
    dimensions read as event dimensions: ``log_prob`` and ``entropy`` sum over them (a
    diagonal Gaussian as one multivariate event)."""

    arg_constraints: dict = {}

    def __init__(self, base_distribution, reinterpreted_batch_ndims: int, validate_args=None):
        n = int(reinterpreted_batch_ndims)
        shape = tuple(base_distribution.batch_shape) + tuple(base_distribution.event_shape)
        event_dim = n + len(base_distribution.event_shape)
        if n > len(base_distribution.batch_shape):
            raise ValueError(
                "Expected reinterpreted_batch_ndims <= len(base_distribution.batch_shape), "
                f"actual {n} vs {len(base_distribution.batch_shape)}"
            )
        self.base_dist = base_distribution
        self.reinterpreted_batch_ndims = n
        self.has_rsample = base_distribution.has_rsample
        cut = len(shape) - event_dim
        super().__init__(shape[:cut], shape[cut:], validate_args)

    def _sum_rightmost(self, value):
        n = self.reinterpreted_batch_ndims
        return value.sum(tuple(range(-n, 0))) if n > 0 else value

    @property
    def mean(self):
        return self.base_dist.mean

    @property
    def mode(self):
        return self.base_dist.mode

    @property
    def variance(self):
        return self.base_dist.variance

    def sample(self, sample_shape=()):
        return self.base_dist.sample(sample_shape)

    def rsample(self, sample_shape=()):
        return self.base_dist.rsample(sample_shape)

    def log_prob(self, value):
        return self._sum_rightmost(self.base_dist.log_prob(value))

    def entropy(self):
        return self._sum_rightmost(self.base_dist.entropy())

    def __repr__(self) -> str:
        return f"Independent({self.base_dist!r}, {self.reinterpreted_batch_ndims})"


class OneHotCategorical(Distribution):
    """``Categorical`` whose samples are one-hot vectors of length ``K`` (the event)."""

    _checks_own_args = True
    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}
    support = constraints.one_hot
    has_enumerate_support = True

    _param_names = ("probs", "logits")

    def __init__(self, probs=None, logits=None, validate_args=None):
        self._categorical = Categorical(probs, logits, validate_args)
        batch = self._categorical.batch_shape
        event = self._categorical.probs.shape[-1:]
        super().__init__(batch, event, validate_args)

    @property
    def probs(self):
        return self._categorical.probs

    @property
    def logits(self):
        return self._categorical.logits

    @property
    def mean(self):
        return self._categorical.probs

    @property
    def mode(self):
        probs = self._categorical.probs
        return kiln.nn.functional.one_hot(probs.argmax(-1), probs.shape[-1]).to(probs.dtype)

    @property
    def variance(self):
        return self._categorical.probs * (1 - self._categorical.probs)

    def sample(self, sample_shape=()):
        probs = self._categorical.probs
        indices = self._categorical.sample(sample_shape)
        return kiln.nn.functional.one_hot(indices, probs.shape[-1]).to(probs.dtype)

    def log_prob(self, value):
        value = _as_tensor(value, self._categorical.probs)
        if self._validate_args:
            ok = ((value == 0) | (value == 1)).all(-1) & (value.sum(-1) == 1)
            self._check_value(ok, value, "OneHot()")
        return self._categorical.log_prob(value.argmax(-1))

    def entropy(self):
        return self._categorical.entropy()

    def __repr__(self) -> str:
        return "OneHotCategorical()"  # (PyTorch's: its parameters live in a Categorical)


class MultivariateNormal(Distribution):
    """The Gaussian on ``R^k`` with mean ``loc`` and one of ``covariance_matrix``,
    ``precision_matrix`` or ``scale_tril`` (the lower Cholesky factor of the covariance);
    batched over the leading dimensions of both."""

    _checks_own_args = True
    arg_constraints = {
        "loc": constraints.real_vector,
        "covariance_matrix": constraints.positive_definite,
        "precision_matrix": constraints.positive_definite,
        "scale_tril": constraints.lower_cholesky,
    }
    support = constraints.real_vector

    has_rsample = True
    _param_names = ("loc", "covariance_matrix", "precision_matrix", "scale_tril")

    def __init__(
        self,
        loc,
        covariance_matrix=None,
        precision_matrix=None,
        scale_tril=None,
        validate_args=None,
    ):
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        given_all = (covariance_matrix, precision_matrix, scale_tril)
        given = [m for m in given_all if m is not None]
        if len(given) != 1:
            raise ValueError(
                "Exactly one of covariance_matrix or precision_matrix or scale_tril may be "
                "specified."
            )
        matrix = given[0]
        self._given = ("loc",) + tuple(  # (for the repr)
            n
            for n, m in zip(("covariance_matrix", "precision_matrix", "scale_tril"), given_all)
            if m is not None
        )
        if matrix.dim() < 2:
            name = (
                "scale_tril"
                if scale_tril is not None
                else "covariance_matrix"
                if covariance_matrix is not None
                else "precision_matrix"
            )
            raise ValueError(
                f"{name} matrix must be at least two-dimensional, with optional leading "
                "batch dimensions"
            )
        if validate_args is not None:
            self._validate_args = validate_args
        batch = kiln.broadcast_shapes(tuple(matrix.shape[:-2]), tuple(loc.shape[:-1]))
        k = loc.shape[-1]
        if tuple(matrix.shape[-2:]) != (k, k):
            raise ValueError(
                f"MultivariateNormal: loc of shape {tuple(loc.shape)} needs a {k}x{k} "
                f"matrix, got shape {tuple(matrix.shape)}"
            )
        self.loc = loc.expand(batch + (k,))
        if scale_tril is not None:
            self._unbroadcasted_scale_tril = scale_tril
        elif covariance_matrix is not None:
            self._unbroadcasted_scale_tril = kiln.linalg.cholesky(covariance_matrix)
        else:
            self._unbroadcasted_scale_tril = kiln.linalg.cholesky(kiln.linalg.inv(precision_matrix))
        super().__init__(batch, (k,), validate_args)

    @property
    def scale_tril(self):
        return self._unbroadcasted_scale_tril.expand(
            tuple(self._batch_shape) + tuple(self._event_shape) * 2
        )

    @property
    def covariance_matrix(self):
        L = self._unbroadcasted_scale_tril
        return (L @ L.transpose(-1, -2)).expand(
            tuple(self._batch_shape) + tuple(self._event_shape) * 2
        )

    @property
    def precision_matrix(self):
        return kiln.linalg.inv(self.covariance_matrix)

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        L = self._unbroadcasted_scale_tril
        return L.pow(2).sum(-1).expand(tuple(self._batch_shape) + tuple(self._event_shape))

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        eps = kiln.randn(shape, dtype=self.loc.dtype)
        return self.loc + (self._unbroadcasted_scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def _half_log_det(self):
        L = self._unbroadcasted_scale_tril
        return L.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob(self, value):
        value = _as_tensor(value, self.loc)
        if self._validate_args:
            self._validate_sample(value)
        diff = value - self.loc
        L = self._unbroadcasted_scale_tril
        L = L.expand(tuple(diff.shape[:-1]) + tuple(L.shape[-2:]))
        solved = kiln.linalg.solve_triangular(L, diff.unsqueeze(-1), upper=False).squeeze(-1)
        maha = solved.pow(2).sum(-1)
        k = self._event_shape[0]
        return -0.5 * (k * math.log(2 * math.pi) + maha) - self._half_log_det()

    def entropy(self):
        k = self._event_shape[0]
        H = 0.5 * k * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        return H.expand(tuple(self._batch_shape))


def _independent_support(self):
    result = self.base_dist.support
    if self.reinterpreted_batch_ndims:
        result = constraints.independent(result, self.reinterpreted_batch_ndims)
    return result


def _independent_expand(self, batch_shape, _instance=None):
    batch_shape = _shape(batch_shape)
    new = self.__new__(type(self)) if _instance is None else _instance
    n = self.reinterpreted_batch_ndims
    event = tuple(self._event_shape)
    base_event = len(self.base_dist.event_shape)
    new.base_dist = self.base_dist.expand(batch_shape + event[: len(event) - base_event])
    new.reinterpreted_batch_ndims = n
    new.has_rsample = self.has_rsample
    Distribution.__init__(new, batch_shape, event, validate_args=False)
    new._validate_args = self._validate_args
    return new


Independent.support = constraints.dependent_property(_independent_support)
Independent.expand = _independent_expand
Independent.has_enumerate_support = property(lambda self: self.base_dist.has_enumerate_support)


def _onehot_expand(self, batch_shape, _instance=None):
    batch_shape = _shape(batch_shape)
    new = self.__new__(type(self)) if _instance is None else _instance
    new._categorical = self._categorical.expand(batch_shape)
    Distribution.__init__(new, batch_shape, self._event_shape, validate_args=False)
    new._validate_args = self._validate_args
    return new


OneHotCategorical.expand = _onehot_expand


def _uniform_icdf(self, value):
    value = _as_tensor(value, self.low)
    return value * (self.high - self.low) + self.low


def _uniform_mode(self):
    return kiln.full_like(self.high, float("nan"))


Uniform.icdf = _uniform_icdf
Uniform.mode = property(_uniform_mode)
Uniform.stddev = property(lambda self: (self.high - self.low) / 12**0.5)


def _bernoulli_enumerate_support(self, expand=True):
    values = kiln.arange(2, dtype=self.probs.dtype)
    values = values.view((-1,) + (1,) * len(self._batch_shape))
    if expand:
        values = values.expand((-1,) + tuple(self._batch_shape))
    return values


def _onehot_enumerate_support(self, expand=True):
    n = self.event_shape[0]
    values = kiln.eye(n, dtype=self.probs.dtype)
    values = values.view((n,) + (1,) * len(self.batch_shape) + (n,))
    if expand:
        values = values.expand((n,) + tuple(self.batch_shape) + (n,))
    return values


Bernoulli.enumerate_support = _bernoulli_enumerate_support
OneHotCategorical.enumerate_support = _onehot_enumerate_support


class OneHotCategoricalStraightThrough(OneHotCategorical):
    """``OneHotCategorical`` whose ``rsample`` passes gradients straight through:
    ``sample + probs - probs.detach()`` (Bengio et al. 2013)."""

    has_rsample = True

    def rsample(self, sample_shape=()):
        samples = self.sample(sample_shape)
        probs = self._categorical.probs
        return samples + (probs - probs.detach())


def _batch_mahalanobis(L, x):
    """``|L^-1 x|^2`` over broadcast batches (``L`` lower triangular)."""
    n = x.shape[-1]
    batch = tuple(kiln.broadcast_shapes(tuple(L.shape[:-2]), tuple(x.shape[:-1])))
    Lb = L.expand(batch + (n, n))
    xb = x.expand(batch + (n,))
    solved = kiln.linalg.solve_triangular(Lb, xb.unsqueeze(-1), upper=False).squeeze(-1)
    return solved.pow(2).sum(-1)


def _add_identity(K):
    return K + kiln.eye(K.shape[-1], dtype=K.dtype)


class LowRankMultivariateNormal(Distribution):
    """The Gaussian on ``R^k`` with covariance ``cov_factor @ cov_factor.T +
    diag(cov_diag)`` (``cov_factor`` is ``k x m``), evaluated through the ``m x m``
    capacitance matrix (Woodbury), as PyTorch."""

    arg_constraints = {
        "loc": constraints.real_vector,
        "cov_factor": constraints.independent(constraints.real, 2),
        "cov_diag": constraints.independent(constraints.positive, 1),
    }
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, cov_factor, cov_diag, validate_args=None):
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        event_shape = tuple(loc.shape[-1:])
        if cov_factor.dim() < 2:
            raise ValueError(
                "cov_factor must be at least two-dimensional, with optional leading batch "
                "dimensions"
            )
        if tuple(cov_factor.shape[-2:-1]) != event_shape:
            raise ValueError(
                f"cov_factor must be a batch of matrices with shape {event_shape[0]} x m"
            )
        if tuple(cov_diag.shape[-1:]) != event_shape:
            raise ValueError(f"cov_diag must be a batch of vectors with shape {event_shape}")
        loc_ = loc.unsqueeze(-1)
        cov_diag_ = cov_diag.unsqueeze(-1)
        try:
            loc_, self.cov_factor, cov_diag_ = kiln.broadcast_tensors(loc_, cov_factor, cov_diag_)
        except (RuntimeError, ValueError) as e:
            raise ValueError(
                f"Incompatible batch shapes: loc {tuple(loc.shape)}, cov_factor "
                f"{tuple(cov_factor.shape)}, cov_diag {tuple(cov_diag.shape)}"
            ) from e
        self.loc = loc_[..., 0]
        self.cov_diag = cov_diag_[..., 0]
        batch_shape = tuple(self.loc.shape[:-1])
        self._unbroadcasted_cov_factor = cov_factor
        self._unbroadcasted_cov_diag = cov_diag
        W, D = cov_factor, cov_diag
        Wt_Dinv = W.transpose(-1, -2) / D.unsqueeze(-2)
        self._capacitance_tril = kiln.linalg.cholesky(_add_identity(Wt_Dinv @ W))
        super().__init__(batch_shape, event_shape, validate_args)

    def expand(self, batch_shape, _instance=None):
        batch_shape = _shape(batch_shape)
        new = self.__new__(type(self)) if _instance is None else _instance
        loc_shape = batch_shape + tuple(self.event_shape)
        new.loc = self.loc.expand(loc_shape)
        new.cov_diag = self.cov_diag.expand(loc_shape)
        new.cov_factor = self.cov_factor.expand(loc_shape + tuple(self.cov_factor.shape[-1:]))
        new._unbroadcasted_cov_factor = self._unbroadcasted_cov_factor
        new._unbroadcasted_cov_diag = self._unbroadcasted_cov_diag
        new._capacitance_tril = self._capacitance_tril
        Distribution.__init__(new, batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self):
        return self.loc

    @property
    def mode(self):
        return self.loc

    @property
    def variance(self):
        return (
            self._unbroadcasted_cov_factor.pow(2).sum(-1) + self._unbroadcasted_cov_diag
        ).expand(tuple(self._batch_shape) + tuple(self._event_shape))

    @property
    def scale_tril(self):
        D_sqrt = self._unbroadcasted_cov_diag.sqrt().unsqueeze(-1)
        Dinvsqrt_W = self._unbroadcasted_cov_factor / D_sqrt
        K = _add_identity(Dinvsqrt_W @ Dinvsqrt_W.transpose(-1, -2))
        scale_tril = D_sqrt * kiln.linalg.cholesky(K)
        return scale_tril.expand(tuple(self._batch_shape) + tuple(self._event_shape) * 2)

    @property
    def covariance_matrix(self):
        W = self._unbroadcasted_cov_factor
        cov = W @ W.transpose(-1, -2) + kiln.diag_embed(self._unbroadcasted_cov_diag)
        return cov.expand(tuple(self._batch_shape) + tuple(self._event_shape) * 2)

    @property
    def precision_matrix(self):
        W = self._unbroadcasted_cov_factor
        D = self._unbroadcasted_cov_diag
        Wt_Dinv = W.transpose(-1, -2) / D.unsqueeze(-2)
        A = kiln.linalg.solve_triangular(self._capacitance_tril, Wt_Dinv, upper=False)
        prec = kiln.diag_embed(D.reciprocal()) - A.transpose(-1, -2) @ A
        return prec.expand(tuple(self._batch_shape) + tuple(self._event_shape) * 2)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        W = self._unbroadcasted_cov_factor
        eps_W = kiln.randn(shape[:-1] + tuple(W.shape[-1:]), dtype=self.loc.dtype)
        eps_D = kiln.randn(shape, dtype=self.loc.dtype)
        return (
            self.loc
            + (W @ eps_W.unsqueeze(-1)).squeeze(-1)
            + self._unbroadcasted_cov_diag.sqrt() * eps_D
        )

    def _logdet(self):
        return 2 * self._capacitance_tril.diagonal(dim1=-2, dim2=-1).log().sum(
            -1
        ) + self._unbroadcasted_cov_diag.log().sum(-1)

    def log_prob(self, value):
        value = _as_tensor(value, self.loc)
        if self._validate_args:
            self._validate_sample(value)
        diff = value - self.loc
        W = self._unbroadcasted_cov_factor
        D = self._unbroadcasted_cov_diag
        Wt_Dinv = W.transpose(-1, -2) / D.unsqueeze(-2)
        Wt_Dinv_x = (Wt_Dinv @ diff.unsqueeze(-1)).squeeze(-1)
        M = (diff.pow(2) / D).sum(-1) - _batch_mahalanobis(self._capacitance_tril, Wt_Dinv_x)
        k = self._event_shape[0]
        return -0.5 * (k * math.log(2 * math.pi) + self._logdet() + M)

    def entropy(self):
        k = self._event_shape[0]
        H = 0.5 * (k * (1.0 + math.log(2 * math.pi)) + self._logdet())
        return H.expand(tuple(self._batch_shape))

    def __repr__(self) -> str:
        return f"LowRankMultivariateNormal(loc: {self.loc.size()})"
