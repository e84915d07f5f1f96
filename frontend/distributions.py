"""``kiln.distributions``: the probability distributions PyTorch tutorials sample from
(``Categorical`` for a policy's actions, ``Normal``, ``Bernoulli``, ``Uniform``,
``OneHotCategorical``, ``MultivariateNormal``, and ``Independent`` around any), with
PyTorch's parameterisations, ``sample``/``rsample``, ``log_prob``, ``entropy`` and
``kl_divergence``.

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
import numbers
import types

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
    "kl_divergence",
]


def _as_tensor(value, like=None):
    if isinstance(value, kiln.Tensor):
        return value
    dtype = like.dtype if isinstance(like, kiln.Tensor) else kiln.get_default_dtype()
    return kiln.tensor(float(value), dtype=dtype)


def _broadcast_all(*values):
    like = next((v for v in values if isinstance(v, kiln.Tensor)), None)
    tensors = [_as_tensor(v, like) for v in values]
    return kiln.broadcast_tensors(*tensors)


def _shape(sample_shape) -> tuple:
    if isinstance(sample_shape, numbers.Integral):
        return (int(sample_shape),)
    return tuple(sample_shape)


class Distribution:
    """The common interface: ``batch_shape``, ``event_shape``, ``sample``, ``log_prob``."""

    has_rsample = False
    _validate_args = True

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None):
        self._batch_shape = kiln.Size(tuple(batch_shape))
        self._event_shape = kiln.Size(tuple(event_shape))
        if validate_args is not None:
            self._validate_args = validate_args

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        Distribution._validate_args = bool(value)

    @property
    def batch_shape(self):
        return self._batch_shape

    @property
    def event_shape(self):
        return self._event_shape

    def _extended_shape(self, sample_shape=()) -> tuple:
        return _shape(sample_shape) + tuple(self._batch_shape) + tuple(self._event_shape)

    def sample(self, sample_shape=()):
        with kiln.no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=()):
        raise NotImplementedError(f"{type(self).__name__} has no rsample")

    def sample_n(self, n: int):
        return self.sample((n,))

    @property
    def stddev(self):
        return self.variance.sqrt()

    def perplexity(self):
        return kiln.exp(self.entropy())

    def _check(self, ok, name: str, value, constraint: str) -> None:
        if self._validate_args and not bool(kiln.all(ok)):
            raise ValueError(
                f"Expected parameter {name} ({type(value).__name__} of shape "
                f"{tuple(value.shape)}) of distribution {self!r} to satisfy the constraint "
                f"{constraint}, but found invalid values:\n{value}"
            )

    def _check_value(self, ok, value, support: str) -> None:
        if self._validate_args and not bool(kiln.all(ok)):
            raise ValueError(
                f"Expected value argument ({type(value).__name__} of shape "
                f"{tuple(value.shape)}) to be within the support ({support}) of the "
                f"distribution {self!r}, but found invalid values:\n{value}"
            )

    def __repr__(self) -> str:
        names = [n for n in self._param_names if n in self.__dict__]
        args = ", ".join(
            f"{n}: {self.__dict__[n] if self.__dict__[n].numel() == 1 else self.__dict__[n].size()}"
            for n in names
        )
        return f"{type(self).__name__}({args})"

    _param_names: tuple = ()


class Categorical(Distribution):
    """A choice among ``K`` categories with ``probs`` (normalized along the last axis) or
    ``logits`` (unnormalized log probabilities)."""

    _param_names = ("probs", "logits")

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
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

    _param_names = ("probs", "logits")

    def __init__(self, probs=None, logits=None, validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
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
        return f"OneHotCategorical(probs: {self.probs.size()})"


class MultivariateNormal(Distribution):
    """The Gaussian on ``R^k`` with mean ``loc`` and one of ``covariance_matrix``,
    ``precision_matrix`` or ``scale_tril`` (the lower Cholesky factor of the covariance);
    batched over the leading dimensions of both."""

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
        given = [m for m in (covariance_matrix, precision_matrix, scale_tril) if m is not None]
        if len(given) != 1:
            raise ValueError(
                "Exactly one of covariance_matrix or precision_matrix or scale_tril may be "
                "specified."
            )
        matrix = given[0]
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
        diff = _as_tensor(value, self.loc) - self.loc
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

    def __repr__(self) -> str:
        return f"MultivariateNormal(loc: {self.loc.size()})"


def kl_divergence(p: Distribution, q: Distribution):
    """``KL(p || q)`` for two distributions of the same family (Normal, Categorical,
    Bernoulli, Uniform)."""
    if isinstance(p, Normal) and isinstance(q, Normal):
        var_ratio = (p.scale / q.scale).pow(2)
        t1 = ((p.loc - q.loc) / q.scale).pow(2)
        return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())
    if isinstance(p, Categorical) and isinstance(q, Categorical):
        t = p.probs * (p.logits - q.logits)
        t = t.masked_fill(q.probs == 0, float("inf"))
        t = t.masked_fill(p.probs == 0, 0.0)
        return t.sum(-1)
    if isinstance(p, Bernoulli) and isinstance(q, Bernoulli):
        sp = kiln.nn.functional.softplus
        t1 = p.probs * (sp(-q.logits) - sp(-p.logits))
        t1 = t1.masked_fill(q.probs == 0, float("inf"))
        t1 = t1.masked_fill(p.probs == 0, 0.0)
        t2 = (1 - p.probs) * (sp(q.logits) - sp(p.logits))
        t2 = t2.masked_fill(q.probs == 1, float("inf"))
        t2 = t2.masked_fill(p.probs == 1, 0.0)
        return t1 + t2
    if isinstance(p, Uniform) and isinstance(q, Uniform):
        result = ((q.high - q.low) / (p.high - p.low)).log()
        outside = (q.low > p.low) | (q.high < p.high)
        return result.masked_fill(outside, float("inf"))
    if isinstance(p, Independent) and isinstance(q, Independent):
        if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
            raise NotImplementedError
        return p._sum_rightmost(kl_divergence(p.base_dist, q.base_dist))
    if isinstance(p, OneHotCategorical) and isinstance(q, OneHotCategorical):
        return kl_divergence(p._categorical, q._categorical)
    raise NotImplementedError(
        f"No KL(p || q) is implemented for p={type(p).__name__}, q={type(q).__name__}"
    )


# ---------------------------------------------------------------------- constraints
class _Constraint:
    """What values a parameter or a sample may take (``torch.distributions.constraints``):
    ``check(value)`` is a boolean tensor, the repr is PyTorch's."""

    is_discrete = False
    event_dim = 0

    def check(self, value):
        raise NotImplementedError

    def __repr__(self) -> str:
        return type(self).__name__.lstrip("_") + "()"


class _Real(_Constraint):
    def check(self, value):
        return value == value  # not NaN


class _Boolean(_Constraint):
    is_discrete = True

    def check(self, value):
        return (value == 0) | (value == 1)


class _GreaterThan(_Constraint):
    def __init__(self, lower_bound):
        self.lower_bound = lower_bound

    def check(self, value):
        return self.lower_bound < value

    def __repr__(self) -> str:
        return f"{type(self).__name__.lstrip('_')}(lower_bound={self.lower_bound})"


class _GreaterThanEq(_GreaterThan):
    def check(self, value):
        return self.lower_bound <= value


class _Interval(_Constraint):
    def __init__(self, lower_bound, upper_bound):
        self.lower_bound, self.upper_bound = lower_bound, upper_bound

    def check(self, value):
        return (self.lower_bound <= value) & (value <= self.upper_bound)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__.lstrip('_')}(lower_bound={self.lower_bound}, "
            f"upper_bound={self.upper_bound})"
        )


class _HalfOpenInterval(_Interval):
    def check(self, value):
        return (self.lower_bound <= value) & (value < self.upper_bound)


class _IntegerGreaterThan(_GreaterThan):
    is_discrete = True

    def check(self, value):
        return (value % 1 == 0) & (value >= self.lower_bound)


class _Simplex(_Constraint):
    event_dim = 1

    def check(self, value):
        return kiln.all(value >= 0, dim=-1) & ((value.sum(-1) - 1).abs() < 1e-6)


constraints = types.ModuleType(
    "kiln.distributions.constraints",
    "The constraints of ``torch.distributions.constraints`` that kiln's distributions use.",
)
constraints.Constraint = _Constraint
constraints.real = _Real()
constraints.boolean = _Boolean()
constraints.positive = _GreaterThan(0.0)
constraints.nonnegative = _GreaterThanEq(0.0)
constraints.unit_interval = _Interval(0.0, 1.0)
constraints.simplex = _Simplex()
constraints.nonnegative_integer = _IntegerGreaterThan(0)
constraints.greater_than = _GreaterThan
constraints.greater_than_eq = _GreaterThanEq
constraints.interval = _Interval
constraints.half_open_interval = _HalfOpenInterval

Normal.support = constraints.real
Bernoulli.support = constraints.boolean
Independent.support = property(lambda self: self.base_dist.support)


def _distribution_expand(self, batch_shape, _instance=None):
    """This distribution with its parameters broadcast to ``batch_shape`` (no copy)."""
    batch_shape = tuple(batch_shape)
    new = type(self).__new__(type(self))
    new.__dict__.update(self.__dict__)
    for name in getattr(self, "_param_names", ()) + getattr(self, "_expand_also", ()):
        value = self.__dict__.get(name)
        if isinstance(value, kiln.Tensor):
            tail = tuple(value.shape)[len(self._batch_shape) :]
            new.__dict__[name] = value.expand(batch_shape + tail)
    new._batch_shape = kiln.Size(batch_shape)
    return new


def _not_implemented(name):
    def method(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}.{name} is not implemented")

    return method


Distribution.expand = _distribution_expand
for _name in ("cdf", "icdf", "entropy", "log_prob", "enumerate_support"):
    if not hasattr(Distribution, _name):
        setattr(Distribution, _name, _not_implemented(_name))
Uniform.icdf = lambda self, value: _as_tensor(value, self.low) * (self.high - self.low) + self.low


def _host_draw(shape, draw, like):
    """Samples drawn on the host from kiln's default generator (no gradient)."""
    from .creation import default_generator

    out = draw(default_generator.numpy_generator(), tuple(shape))
    return kiln.tensor(out, dtype=like.dtype)


# ---------------------------------------------------------------------- more families
class Exponential(Distribution):
    """Density ``rate * exp(-rate * x)`` on ``x >= 0``."""

    has_rsample = True
    support = constraints.nonnegative
    _param_names = ("rate",)

    def __init__(self, rate, validate_args=None):
        (self.rate,) = _broadcast_all(rate)
        if validate_args is not None:
            self._validate_args = validate_args
        self._check(self.rate > 0, "rate", self.rate, "GreaterThan(lower_bound=0.0)")
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
        u = kiln.rand(self._extended_shape(sample_shape), dtype=self.rate.dtype)
        return -kiln.log1p(-u) / self.rate

    def log_prob(self, value):
        value = _as_tensor(value, self.rate)
        if self._validate_args:
            self._check_value(value >= 0, value, repr(self.support))
        return self.rate.log() - self.rate * value

    def cdf(self, value):
        return 1 - kiln.exp(-self.rate * _as_tensor(value, self.rate))

    def icdf(self, value):
        return -kiln.log1p(-_as_tensor(value, self.rate)) / self.rate

    def entropy(self):
        return 1.0 - kiln.log(self.rate)


class Laplace(Distribution):
    """Density ``exp(-|x - loc| / scale) / (2 scale)``."""

    has_rsample = True
    support = constraints.real
    _param_names = ("loc", "scale")

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = _broadcast_all(loc, scale)
        if validate_args is not None:
            self._validate_args = validate_args
        self._check(self.scale > 0, "scale", self.scale, "GreaterThan(lower_bound=0.0)")
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
        return math.sqrt(2) * self.scale

    def rsample(self, sample_shape=()):
        eps = kiln.finfo(self.loc.dtype).eps
        u = kiln.rand(self._extended_shape(sample_shape), dtype=self.loc.dtype)
        u = u * (2 - eps) + (eps - 1)  # uniform on [eps - 1, 1), as PyTorch draws
        return self.loc - self.scale * u.sign() * kiln.log1p(-u.abs())

    def log_prob(self, value):
        value = _as_tensor(value, self.loc)
        return -kiln.log(2 * self.scale) - (value - self.loc).abs() / self.scale

    def cdf(self, value):
        d = _as_tensor(value, self.loc) - self.loc
        return 0.5 - 0.5 * d.sign() * kiln.expm1(-d.abs() / self.scale)

    def icdf(self, value):
        term = _as_tensor(value, self.loc) - 0.5
        return self.loc - self.scale * term.sign() * kiln.log1p(-2 * term.abs())

    def entropy(self):
        return 1 + kiln.log(2 * self.scale)


class Gamma(Distribution):
    """Shape ``concentration``, inverse scale ``rate``."""

    has_rsample = True
    support = constraints.nonnegative
    _param_names = ("concentration", "rate")

    def __init__(self, concentration, rate, validate_args=None):
        self.concentration, self.rate = _broadcast_all(concentration, rate)
        if validate_args is not None:
            self._validate_args = validate_args
        for name in self._param_names:
            v = getattr(self, name)
            self._check(v > 0, name, v, "GreaterThan(lower_bound=0.0)")
        super().__init__(self.rate.shape, (), validate_args)

    @property
    def mean(self):
        return self.concentration / self.rate

    @property
    def mode(self):
        return ((self.concentration - 1) / self.rate).clamp(min=0)

    @property
    def variance(self):
        return self.concentration / self.rate.pow(2)

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        c = self.concentration.detach().expand(shape).numpy()
        r = self.rate.detach().expand(shape).numpy()
        return _host_draw(shape, lambda g, s: g.gamma(c, 1.0 / r, size=s), self.rate)

    def rsample(self, sample_shape=()):
        if kiln.is_grad_enabled() and (self.concentration.requires_grad or self.rate.requires_grad):
            raise NotImplementedError(
                f"{type(self).__name__}.rsample: kiln has no reparameterized gradient of "
                "gamma draws (PyTorch differentiates them implicitly); use sample()"
            )
        return self.sample(sample_shape)

    def log_prob(self, value):
        value = _as_tensor(value, self.rate)
        if self._validate_args:
            self._check_value(value >= 0, value, repr(self.support))
        c, r = self.concentration, self.rate
        return kiln.xlogy(c, r) + kiln.xlogy(c - 1, value) - r * value - kiln.lgamma(c)

    def entropy(self):
        c = self.concentration
        return c - kiln.log(self.rate) + kiln.lgamma(c) + (1.0 - c) * kiln.digamma(c)


class Dirichlet(Distribution):
    """On the probability simplex, with ``concentration`` (the last axis is the event)."""

    has_rsample = True
    support = constraints.simplex
    _param_names = ("concentration",)

    def __init__(self, concentration, validate_args=None):
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = concentration
        if validate_args is not None:
            self._validate_args = validate_args
        self._check(
            concentration > 0,
            "concentration",
            concentration,
            "IndependentConstraint(GreaterThan(lower_bound=0.0), 1)",
        )
        shape = tuple(concentration.shape)
        super().__init__(shape[:-1], shape[-1:], validate_args)

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def variance(self):
        con0 = self.concentration.sum(-1, keepdim=True)
        return self.concentration * (con0 - self.concentration) / (con0.pow(2) * (con0 + 1))

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        c = self.concentration.detach().expand(shape).numpy()
        g = _host_draw(shape, lambda gen, s: gen.gamma(c, 1.0, size=s), self.concentration)
        return g / g.sum(-1, keepdim=True)

    def rsample(self, sample_shape=()):
        if kiln.is_grad_enabled() and self.concentration.requires_grad:
            raise NotImplementedError(
                "Dirichlet.rsample: kiln has no reparameterized gradient of gamma draws "
                "(PyTorch differentiates them implicitly); use sample()"
            )
        return self.sample(sample_shape)

    def log_prob(self, value):
        value = _as_tensor(value, self.concentration)
        c = self.concentration
        return kiln.xlogy(c - 1.0, value).sum(-1) + kiln.lgamma(c.sum(-1)) - kiln.lgamma(c).sum(-1)

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
    """On ``[0, 1]``, density proportional to ``x^(c1 - 1) (1 - x)^(c0 - 1)``."""

    has_rsample = True
    support = constraints.unit_interval
    _param_names = ("concentration1", "concentration0")

    def __init__(self, concentration1, concentration0, validate_args=None):
        self.concentration1, self.concentration0 = _broadcast_all(concentration1, concentration0)
        if validate_args is not None:
            self._validate_args = validate_args
        for name in self._param_names:
            v = getattr(self, name)
            self._check(v > 0, name, v, "GreaterThan(lower_bound=0.0)")
        self._dirichlet = Dirichlet(
            kiln.stack([self.concentration1, self.concentration0], -1), validate_args=False
        )
        super().__init__(self.concentration1.shape, (), validate_args)

    @property
    def mean(self):
        return self.concentration1 / (self.concentration1 + self.concentration0)

    @property
    def variance(self):
        total = self.concentration1 + self.concentration0
        return self.concentration1 * self.concentration0 / (total.pow(2) * (total + 1))

    def sample(self, sample_shape=()):
        return self._dirichlet.sample(sample_shape).select(-1, 0)

    def rsample(self, sample_shape=()):
        return self._dirichlet.rsample(sample_shape).select(-1, 0)

    def log_prob(self, value):
        value = _as_tensor(value, self.concentration1)
        if self._validate_args:
            self._check_value((value >= 0) & (value <= 1), value, repr(self.support))
        heads_tails = kiln.stack([value, 1.0 - value], -1)
        return self._dirichlet.log_prob(heads_tails)

    def entropy(self):
        return self._dirichlet.entropy()

    def expand(self, batch_shape, _instance=None):
        shape = tuple(batch_shape)
        return Beta(
            self.concentration1.expand(shape),
            self.concentration0.expand(shape),
            validate_args=False,
        )


class Poisson(Distribution):
    """Counts with mean ``rate``."""

    support = constraints.nonnegative_integer
    _param_names = ("rate",)

    def __init__(self, rate, validate_args=None):
        (self.rate,) = _broadcast_all(rate)
        if validate_args is not None:
            self._validate_args = validate_args
        self._check(self.rate >= 0, "rate", self.rate, "GreaterThanEq(lower_bound=0.0)")
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
        lam = self.rate.detach().expand(shape).numpy()
        return _host_draw(shape, lambda g, s: g.poisson(lam, size=s), self.rate)

    def log_prob(self, value):
        value = _as_tensor(value, self.rate)
        if self._validate_args:
            self._check_value((value >= 0) & (value == value.floor()), value, repr(self.support))
        return kiln.xlogy(value, self.rate) - self.rate - kiln.lgamma(value + 1)


# ---------------------------------------------------------------------- transforms
class Transform:
    """An invertible map ``y = t(x)`` with ``log_abs_det_jacobian(x, y)`` (elementwise)."""

    bijective = True
    sign = 1

    def __call__(self, x):
        raise NotImplementedError

    def _inverse(self, y):
        raise NotImplementedError

    def log_abs_det_jacobian(self, x, y):
        raise NotImplementedError

    @property
    def inv(self):
        return _InverseTransform(self)

    def __repr__(self) -> str:
        return type(self).__name__ + "()"


class _InverseTransform(Transform):
    def __init__(self, transform):
        self._inv = transform

    def __call__(self, x):
        return self._inv._inverse(x)

    def _inverse(self, y):
        return self._inv(y)

    @property
    def inv(self):
        return self._inv

    def log_abs_det_jacobian(self, x, y):
        return -self._inv.log_abs_det_jacobian(y, x)


class ExpTransform(Transform):
    def __call__(self, x):
        return x.exp()

    def _inverse(self, y):
        return y.log()

    def log_abs_det_jacobian(self, x, y):
        return x


class AffineTransform(Transform):
    def __init__(self, loc, scale, event_dim: int = 0):
        self.loc, self.scale, self.event_dim = loc, scale, event_dim

    def __call__(self, x):
        return self.loc + self.scale * x

    def _inverse(self, y):
        return (y - self.loc) / self.scale

    def log_abs_det_jacobian(self, x, y):
        scale = self.scale
        if isinstance(scale, numbers.Real):
            result = kiln.full_like(x, math.log(abs(scale)))
        else:
            result = (
                scale.abs().log().expand(x.shape) if scale.shape != x.shape else scale.abs().log()
            )
        if self.event_dim:
            result = result.sum(tuple(range(-self.event_dim, 0)))
        return result


class SigmoidTransform(Transform):
    def __call__(self, x):
        f = kiln.finfo(x.dtype)
        return kiln.sigmoid(x).clamp(min=f.tiny, max=1.0 - f.eps)

    def _inverse(self, y):
        f = kiln.finfo(y.dtype)
        y = y.clamp(min=f.tiny, max=1.0 - f.eps)
        return y.log() - (-y).log1p()

    def log_abs_det_jacobian(self, x, y):
        sp = kiln.nn.functional.softplus
        return -sp(-x) - sp(x)


transforms = types.ModuleType(
    "kiln.distributions.transforms",
    "The elementwise transforms of ``torch.distributions.transforms`` kiln has.",
)
for _t in (Transform, ExpTransform, AffineTransform, SigmoidTransform):
    setattr(transforms, _t.__name__, _t)


class TransformedDistribution(Distribution):
    """``base_distribution`` pushed through ``transforms`` (applied in order)."""

    def __init__(self, base_distribution, transforms, validate_args=None):
        if isinstance(transforms, Transform):
            transforms = [transforms]
        self.base_dist = base_distribution
        self.transforms = list(transforms)
        self.has_rsample = base_distribution.has_rsample
        super().__init__(base_distribution.batch_shape, base_distribution.event_shape, False)

    def sample(self, sample_shape=()):
        with kiln.no_grad():
            x = self.base_dist.sample(sample_shape)
            for t in self.transforms:
                x = t(x)
            return x

    def rsample(self, sample_shape=()):
        x = self.base_dist.rsample(sample_shape)
        for t in self.transforms:
            x = t(x)
        return x

    def log_prob(self, value):
        y = value
        log_prob = 0.0
        for t in reversed(self.transforms):
            x = t.inv(y)
            log_prob = log_prob - t.log_abs_det_jacobian(x, y)
            y = x
        return log_prob + self.base_dist.log_prob(y)

    def expand(self, batch_shape, _instance=None):
        return TransformedDistribution(self.base_dist.expand(batch_shape), self.transforms)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LogNormal(TransformedDistribution):
    """``exp(X)`` for ``X ~ Normal(loc, scale)``."""

    support = constraints.positive
    _param_names = ("loc", "scale")

    def __init__(self, loc, scale, validate_args=None):
        base = Normal(loc, scale, validate_args=validate_args)
        self.loc, self.scale = base.loc, base.scale
        super().__init__(base, ExpTransform(), validate_args)

    @property
    def mean(self):
        return (self.loc + self.scale.pow(2) / 2).exp()

    @property
    def mode(self):
        return (self.loc - self.scale.square()).exp()

    @property
    def variance(self):
        s2 = self.scale.pow(2)
        return s2.expm1() * (2 * self.loc + s2).exp()

    def entropy(self):
        return self.base_dist.entropy() + self.loc

    def expand(self, batch_shape, _instance=None):
        shape = tuple(batch_shape)
        return LogNormal(self.loc.expand(shape), self.scale.expand(shape), validate_args=False)


def _kl_beta_beta(p, q):
    sum_p = p.concentration1 + p.concentration0
    sum_q = q.concentration1 + q.concentration0
    t1 = q.concentration1.lgamma() + q.concentration0.lgamma() + sum_p.lgamma()
    t2 = p.concentration1.lgamma() + p.concentration0.lgamma() + sum_q.lgamma()
    t3 = (p.concentration1 - q.concentration1) * kiln.digamma(p.concentration1)
    t4 = (p.concentration0 - q.concentration0) * kiln.digamma(p.concentration0)
    t5 = (sum_q - sum_p) * kiln.digamma(sum_p)
    return t1 - t2 + t3 + t4 + t5


def _kl_gamma_gamma(p, q):
    t1 = q.concentration * kiln.log(p.rate / q.rate)
    t2 = kiln.lgamma(q.concentration) - kiln.lgamma(p.concentration)
    t3 = (p.concentration - q.concentration) * kiln.digamma(p.concentration)
    t4 = (q.rate - p.rate) * (p.concentration / p.rate)
    return t1 + t2 + t3 + t4


def _kl_exponential_exponential(p, q):
    rate_ratio = q.rate / p.rate
    return rate_ratio - 1 - rate_ratio.log()


_base_kl_divergence = kl_divergence
_EXTRA_KL = {
    (Beta, Beta): _kl_beta_beta,
    (Gamma, Gamma): _kl_gamma_gamma,
    (Exponential, Exponential): _kl_exponential_exponential,
}


def kl_divergence(p: Distribution, q: Distribution):  # noqa: F811
    """``KL(p || q)`` for two distributions of the same family (Normal, Categorical,
    Bernoulli, Uniform, Beta, Gamma, Exponential, Independent / OneHotCategorical of
    those)."""
    fn = _EXTRA_KL.get((type(p), type(q)))
    return fn(p, q) if fn is not None else _base_kl_divergence(p, q)


__all__ += [
    "Beta",
    "Dirichlet",
    "Exponential",
    "Gamma",
    "Laplace",
    "LogNormal",
    "Poisson",
    "TransformedDistribution",
    "constraints",
    "transforms",
]
