"""``kiln.nn.init``: fill tensors in place with PyTorch's initialisation schemes.

Every function runs under ``no_grad`` and writes with in-place ops (``uniform_``,
``normal_``, ``fill_``, ``copy_``), so it works on parameters that require grad and keeps
their identity.

>>> import kiln
>>> w = kiln.empty(3, 4)
>>> _ = constant_(w, 0.5)
>>> w.sum().item()
6.0
"""

from __future__ import annotations

import math

import kiln
from kiln import ops

__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "constant_",
    "zeros_",
    "ones_",
    "eye_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "trunc_normal_",
    "orthogonal_",
    "dirac_",
    "sparse_",
    "calculate_fan_in_and_fan_out",
]


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for ``nonlinearity`` (``'relu'`` -> sqrt(2), ``'tanh'`` -> 5/3).

    >>> calculate_gain("leaky_relu", 0.2) == math.sqrt(2.0 / (1 + 0.2 ** 2))
    True
    """
    linear = (
        "linear",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
    )
    if nonlinearity in linear or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight ``(out, in, *kernel)``.

    >>> calculate_fan_in_and_fan_out(kiln.empty(4, 3, 2, 2))
    (12, 16)
    """
    if tensor.ndim < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


_calculate_fan_in_and_fan_out = calculate_fan_in_and_fan_out


def _fan(tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None):
    """Fill with draws from ``U(a, b)``.

    >>> bool((uniform_(kiln.empty(100), -1, 1).abs() <= 1).all())
    True
    """
    with kiln.no_grad():
        return tensor.uniform_(a, b, generator=generator)


def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None):
    """Fill with draws from ``N(mean, std**2)``."""
    with kiln.no_grad():
        return tensor.normal_(mean, std, generator=generator)


def constant_(tensor, val: float):
    with kiln.no_grad():
        return tensor.fill_(val)


def zeros_(tensor):
    with kiln.no_grad():
        return tensor.zero_()


def ones_(tensor):
    with kiln.no_grad():
        return tensor.fill_(1.0)


def eye_(tensor):
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    with kiln.no_grad():
        return tensor.copy_(kiln.eye(*tensor.shape, dtype=tensor.dtype))


def xavier_uniform_(tensor, gain: float = 1.0, generator=None):
    """``U(-a, a)`` with ``a = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot)."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain: float = 1.0, generator=None):
    """``N(0, std**2)`` with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(
    tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None
):
    """``U(-b, b)`` with ``b = gain * sqrt(3 / fan)`` (He); Linear/Conv use ``a=sqrt(5)``.

    >>> w = kaiming_uniform_(kiln.empty(8, 4), a=math.sqrt(5))
    >>> bool((w.abs() <= 0.5).all())
    True
    """
    fan = _fan(tensor, mode)
    if fan == 0:
        return tensor
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(
    tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None
):
    """``N(0, std**2)`` with ``std = gain / sqrt(fan)`` (He)."""
    fan = _fan(tensor, mode)
    if fan == 0:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, generator)


def trunc_normal_(
    tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, generator=None
):
    """``N(mean, std**2)`` truncated to ``[a, b]``, by inverting the normal CDF.

    >>> w = trunc_normal_(kiln.empty(1000), std=1.0, a=-0.5, b=0.5)
    >>> bool((w.abs() <= 0.5).all())
    True
    """

    def cdf(x):
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    low, high = cdf((a - mean) / std), cdf((b - mean) / std)
    if tensor.is_meta:  # no values to draw
        return tensor
    with kiln.no_grad():
        u = kiln.rand(tensor.shape, dtype=kiln.float64, generator=generator)
        y = ops.sub(ops.mul(ops.add(ops.mul(u, high - low), low), 2.0), 1.0)
        eps = 1e-12
        y = ops.clamp(y, -1.0 + eps, 1.0 - eps)
        values = ops.add(ops.mul(ops.erfinv(y), std * math.sqrt(2.0)), mean)
        return tensor.copy_(ops.clamp(values, a, b))


def orthogonal_(tensor, gain: float = 1.0, generator=None):
    """A (semi-)orthogonal matrix from the QR decomposition of a normal draw (eager)."""
    import numpy as np

    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    if tensor.is_meta:  # no values to draw
        return tensor
    with kiln.no_grad():
        flat = kiln.randn(rows, cols, dtype=kiln.float64, generator=generator).numpy()
        matrix = flat.T if rows < cols else flat
        q, r = np.linalg.qr(matrix)
        q = q * np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return tensor.copy_(ops.mul(kiln.tensor(q.reshape(tensor.shape)), gain))


def dirac_(tensor, groups: int = 1):
    """The Dirac delta of a 3-, 4- or 5-D convolution weight: a convolution with it keeps
    its input's channels (the first ``min(out_channels // groups, in_channels)`` of each
    group)."""
    import numpy as np

    if tensor.ndim not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    sizes = tuple(tensor.shape)
    if sizes[0] % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    out_chans_per_grp = sizes[0] // groups
    min_dim = min(out_chans_per_grp, sizes[1])
    weight = np.zeros(sizes, dtype=np.float64)
    centre = tuple(s // 2 for s in sizes[2:])
    for g in range(groups):
        for d in range(min_dim):
            weight[(g * out_chans_per_grp + d, d, *centre)] = 1
    if tensor.is_meta:
        return tensor
    with kiln.no_grad():
        return tensor.copy_(kiln.tensor(weight, dtype=tensor.dtype))


def sparse_(tensor, sparsity: float, std: float = 0.01, generator=None):
    """A 2-D tensor drawn from ``N(0, std)`` with ``ceil(sparsity * rows)`` zeros in every
    column (rows picked at random), as in Martens (2010)."""
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    rows, cols = tensor.shape
    num_zeros = int(math.ceil(sparsity * rows))
    with kiln.no_grad():
        tensor.normal_(0, std, generator=generator)
        for col_idx in range(cols):
            row_indices = kiln.randperm(rows)
            zero_indices = row_indices[:num_zeros]
            tensor[zero_indices, col_idx] = 0
    return tensor


def _deprecated_alias(fn):
    """PyTorch's deprecated name without the underscore: warns (FutureWarning), then
    calls ``fn``."""
    name = fn.__name__[:-1]

    def alias(*args, **kwargs):
        import warnings

        warnings.warn(
            f"`nn.init.{name}` is now deprecated in favor of `nn.init.{name}_`.",
            FutureWarning,
            stacklevel=2,
        )
        return fn(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = name
    alias.__doc__ = f"Deprecated: ``{name}_``."
    return alias


uniform, normal, constant = map(_deprecated_alias, (uniform_, normal_, constant_))
xavier_uniform, xavier_normal = map(_deprecated_alias, (xavier_uniform_, xavier_normal_))
kaiming_uniform, kaiming_normal = map(_deprecated_alias, (kaiming_uniform_, kaiming_normal_))
dirac, sparse = map(_deprecated_alias, (dirac_, sparse_))
eye, orthogonal = map(_deprecated_alias, (eye_, orthogonal_))
