"""The ``Distribution`` base class and helpers shared by the families."""

from __future__ import annotations

import math
import numbers

import kiln

from . import constraints

__all__ = ["Distribution"]


def _as_tensor(value, like=None):
    if isinstance(value, kiln.Tensor):
        return value
    dtype = like.dtype if isinstance(like, kiln.Tensor) else kiln.get_default_dtype()
    return kiln.tensor(float(value), dtype=dtype)


def broadcast_all(*values):
    """Numbers and tensors broadcast to one shape (numbers take the tensors' dtype)."""
    for v in values:
        if not isinstance(v, (kiln.Tensor, numbers.Number)):
            raise ValueError(
                "Input arguments must all be instances of numbers.Number or kiln.Tensor, "
                f"got {type(v).__name__}"
            )
    like = next((v for v in values if isinstance(v, kiln.Tensor)), None)
    tensors = [_as_tensor(v, like) for v in values]
    return kiln.broadcast_tensors(*tensors)


_broadcast_all = broadcast_all


def _shape(sample_shape) -> tuple:
    if isinstance(sample_shape, numbers.Integral):
        return (int(sample_shape),)
    return tuple(sample_shape)


def _sum_rightmost(value, dim: int):
    if dim == 0:
        return value
    if not isinstance(value, kiln.Tensor):
        return value
    return value.reshape(tuple(value.shape[: value.dim() - dim]) + (-1,)).sum(-1)


def _host_draw(name: str) -> None:
    """The draws made with NumPy on the host (gamma, Poisson, binomial) cannot be traced."""
    if kiln.is_tracing():
        raise RuntimeError(
            f"{name} draws its samples with NumPy on the host and cannot run under kiln.jit; "
            "sample outside the compiled function and pass the samples in"
        )


def _tiny(dtype):
    return kiln.finfo(dtype).tiny


def _eps(dtype):
    return kiln.finfo(dtype).eps


def clamp_probs(probs):
    eps = _eps(probs.dtype)
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs, is_binary: bool = False):
    ps = clamp_probs(probs)
    if is_binary:
        return kiln.log(ps) - kiln.log1p(-ps)
    return kiln.log(ps)


def logits_to_probs(logits, is_binary: bool = False):
    if is_binary:
        return kiln.sigmoid(logits)
    return kiln.softmax(logits, -1)


class Distribution:
    """The common interface of ``torch.distributions.Distribution``: ``batch_shape``,
    ``event_shape``, ``sample``/``rsample``, ``log_prob``, ``arg_constraints``/``support``
    checked when ``validate_args`` (PyTorch's default: on).

    Under ``kiln.jit`` the checks that need tensor values (constraints, supports) are
    skipped, as a trace cannot branch on data; shapes are still checked. Validate eagerly.
    """

    has_rsample = False
    has_enumerate_support = False
    _validate_args = True
    arg_constraints: dict = {}
    support = None
    # Families whose __init__ checks its own arguments (the original kiln classes).
    _checks_own_args = False
    _param_names: tuple = ()

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None):
        self._batch_shape = kiln.Size(tuple(batch_shape))
        self._event_shape = kiln.Size(tuple(event_shape))
        if validate_args is not None:
            self._validate_args = validate_args
        if self._validate_args and not self._checks_own_args and not kiln.is_tracing():
            try:
                arg_constraints = self.arg_constraints
            except NotImplementedError:
                arg_constraints = {}
            for param, constraint in arg_constraints.items():
                if constraints.is_dependent(constraint):
                    continue
                if param not in self.__dict__ and not isinstance(
                    getattr(type(self), param, None), property
                ):
                    continue  # a parameterisation not given (probs when logits are)
                value = getattr(self, param)
                valid = constraint.check(value)
                if not bool(valid.all()):
                    raise ValueError(
                        f"Expected parameter {param} ({type(value).__name__} of shape "
                        f"{tuple(value.shape)}) of distribution {self!r} to satisfy the "
                        f"constraint {constraint!r}, but found invalid values:\n{value}"
                    )

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        if value not in (True, False):
            raise ValueError("set_default_validate_args expects True or False")
        Distribution._validate_args = bool(value)

    @property
    def batch_shape(self):
        return self._batch_shape

    @property
    def event_shape(self):
        return self._event_shape

    @property
    def mean(self):
        raise NotImplementedError(f"{type(self).__name__} has no mean")

    @property
    def mode(self):
        raise NotImplementedError(f"{type(self).__class__} does not implement mode")

    @property
    def variance(self):
        raise NotImplementedError(f"{type(self).__name__} has no variance")

    @property
    def stddev(self):
        return self.variance.sqrt()

    def _extended_shape(self, sample_shape=()) -> tuple:
        return _shape(sample_shape) + tuple(self._batch_shape) + tuple(self._event_shape)

    def _get_checked_instance(self, cls, _instance=None):
        if _instance is None and type(self).__init__ != cls.__init__:
            raise NotImplementedError(
                f"Subclass {self.__class__.__name__} of {cls.__name__} that defines a custom "
                "__init__() method must also define a custom .expand() method."
            )
        return self.__new__(type(self)) if _instance is None else _instance

    def expand(self, batch_shape, _instance=None):
        """A view of this distribution with a larger ``batch_shape`` (parameters expanded,
        no copies), as ``torch.distributions.Distribution.expand``."""
        batch_shape = tuple(_shape(batch_shape))
        new = self.__new__(type(self)) if _instance is None else _instance
        nb = len(self._batch_shape)
        for name, value in self.__dict__.items():
            if (
                isinstance(value, kiln.Tensor)
                and not name.startswith("_unbroadcasted")
                and value.dim() >= nb
                and tuple(value.shape[:nb]) == tuple(self._batch_shape)
            ):
                value = value.expand(batch_shape + tuple(value.shape[nb:]))
            new.__dict__[name] = value
        kiln.broadcast_shapes(batch_shape, tuple(self._batch_shape))  # raises if invalid
        new._batch_shape = kiln.Size(batch_shape)
        return new

    def sample(self, sample_shape=()):
        with kiln.no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=()):
        raise NotImplementedError(f"{type(self).__name__} has no rsample")

    def sample_n(self, n: int):
        return self.sample((n,))

    def log_prob(self, value):
        raise NotImplementedError

    def cdf(self, value):
        raise NotImplementedError(f"{type(self).__name__} has no cdf")

    def icdf(self, value):
        raise NotImplementedError(f"{type(self).__name__} has no icdf")

    def enumerate_support(self, expand=True):
        raise NotImplementedError(f"{type(self).__name__} has no enumerate_support")

    def entropy(self):
        raise NotImplementedError(f"{type(self).__name__} has no entropy")

    def perplexity(self):
        return kiln.exp(self.entropy())

    def _validate_sample(self, value):
        """``ValueError`` unless ``value`` is a tensor of a broadcastable shape inside the
        support (only when ``validate_args``)."""
        if not isinstance(value, kiln.Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        event_dim_start = value.dim() - len(self._event_shape)
        if tuple(value.shape[event_dim_start:]) != tuple(self._event_shape):
            raise ValueError(
                f"The right-most size of value must match event_shape: {tuple(value.shape)} "
                f"vs {tuple(self._event_shape)}."
            )
        actual_shape = tuple(value.shape)
        expected_shape = tuple(self._batch_shape) + tuple(self._event_shape)
        for i, j in zip(reversed(actual_shape), reversed(expected_shape), strict=False):
            if i != 1 and j != 1 and i != j:
                raise ValueError(
                    f"Value is not broadcastable with batch_shape+event_shape: {actual_shape} "
                    f"vs {expected_shape}."
                )
        support = self.support
        if support is None or constraints.is_dependent(support) or kiln.is_tracing():
            return  # under kiln.jit the values are unknown: only shapes are checked
        valid = support.check(value)
        if not bool(valid.all()):
            raise ValueError(
                f"Expected value argument ({type(value).__name__} of shape "
                f"{tuple(value.shape)}) to be within the support ({support!r}) of the "
                f"distribution {self!r}, but found invalid values:\n{value}"
            )

    # The original kiln families' checks (kept: their messages name the constraint).
    def _check(self, ok, name: str, value, constraint: str) -> None:
        if self._validate_args and not kiln.is_tracing() and not bool(kiln.all(ok)):
            raise ValueError(
                f"Expected parameter {name} ({type(value).__name__} of shape "
                f"{tuple(value.shape)}) of distribution {self!r} to satisfy the constraint "
                f"{constraint}, but found invalid values:\n{value}"
            )

    def _check_value(self, ok, value, support: str) -> None:
        if self._validate_args and not kiln.is_tracing() and not bool(kiln.all(ok)):
            raise ValueError(
                f"Expected value argument ({type(value).__name__} of shape "
                f"{tuple(value.shape)}) to be within the support ({support}) of the "
                f"distribution {self!r}, but found invalid values:\n{value}"
            )

    def __repr__(self) -> str:
        # PyTorch shows the parameters the distribution was built from (``_given``, where
        # kiln also keeps derived ones: Categorical's logits from probs), else those of
        # ``arg_constraints`` held in the instance
        given = self.__dict__.get("_given")
        if given is not None:
            values = [(n, getattr(self, n, None)) for n in given]  # (None: not set yet)
        else:
            names = self._param_names or tuple(self.arg_constraints)
            values = [(n, self.__dict__[n]) for n in names if n in self.__dict__]
        args = ", ".join(
            f"{n}: {v if v.numel() == 1 else v.size()}"
            for n, v in values
            if isinstance(v, kiln.Tensor)
        )
        return f"{type(self).__name__}({args})"


_LOG_SQRT_2PI = math.log(math.sqrt(2 * math.pi))


class ExponentialFamily(Distribution):
    """Base of the exponential families ``p(x) = h(x) exp(<t(x), theta> - F(theta))``: a
    subclass defines ``_natural_params``, ``_log_normalizer(*natural_params)`` and
    ``_mean_carrier_measure``; ``entropy`` follows by the Bregman divergence, as PyTorch."""

    @property
    def _natural_params(self):
        raise NotImplementedError

    def _log_normalizer(self, *natural_params):
        raise NotImplementedError

    @property
    def _mean_carrier_measure(self):
        raise NotImplementedError

    def entropy(self):
        result = -self._mean_carrier_measure
        nparams = [p.detach().requires_grad_() for p in self._natural_params]
        lg_normal = self._log_normalizer(*nparams)
        gradients = kiln.autograd.grad(lg_normal.sum(), nparams, create_graph=True)
        result = result + lg_normal
        for np_, g in zip(nparams, gradients, strict=True):
            result = result - _sum_rightmost(np_ * g, len(self.event_shape))
        return result
