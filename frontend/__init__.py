"""kiln: eager tensors on NumPy and a JIT graph compiler lowered through Numba.

>>> import kiln
>>> x = kiln.tensor([3.0], requires_grad=True)
>>> y = (x ** 2).sum(); y.backward(); x.grad
tensor([6.])
"""

import warnings as _warnings

from kiln.compiler.errors import ShapeError, TraceError

# NumPy's floating-point warnings from kiln's own calls (inf - inf, 0 / 0, an overflowing
# cast): PyTorch computes the same IEEE results silently. Only warnings raised in kiln's
# modules are ignored (a user's own NumPy code still warns); a filter the user adds after
# importing kiln (``warnings.simplefilter("error")``) takes precedence.
_warnings.filterwarnings(
    "ignore",
    message=r"(invalid value|divide by zero|overflow|underflow) encountered",
    category=RuntimeWarning,
    module=r"kiln(\.|$)",
)

from . import dtypes, ops
from .autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .device import device, get_default_device, set_default_device
from .dispatch import install_out_keyword as _install_out_keyword
from .dtypes import (
    bfloat16,
    cdouble,
    cfloat,
    complex64,
    complex128,
    double,
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    qint8,
    qint32,
    quint8,
    set_default_dtype,
    short,
    uint8,
    uint16,
    uint32,
    uint64,
)
from .dtypes import (
    bool_ as bool,  # noqa: A001
)
from .dtypes import float as float  # noqa: A001, PLC0414
from .dtypes import int as int  # noqa: A001, PLC0414
from .ops import *  # noqa: F403
from .ops import abs, all, any, max, min, pow, round, sum  # noqa: A004, F401
from .ops.methods import diagonal_view as diagonal  # (a view, as torch.diagonal)
from .ops.methods import install as _install_methods
from .tensor import Size, Tensor

_install_methods()
_install_out_keyword(vars(ops), globals())  # torch.add(a, b, out=c) and the other out= ops

from . import autograd, functional, jit, linalg, profiler, return_types, special  # noqa: E402  (kiln.jit: also the decorator)
from . import complex_tensors as _complex_tensors  # noqa: E402  (after the VJP rules: wraps them)
from .autograd import profiler as _autograd_profiler  # noqa: E402, F401  (kiln.autograd.profiler)
from .autograd import tape as _tape  # noqa: E402, F401  (registers the recorder)
from .autograd import vjp as _vjp  # noqa: E402, F401  (attaches the VJP rules to the records)

_complex_tensors.install()
_complex_tensors.install_methods()
_complex_tensors.install_refusals(_complex_tensors.method_names_to_guard(), vars(ops), globals())
from . import (
    fft,  # noqa: E402
    overrides,  # noqa: E402  (torch.overrides: __torch_function__)
)
from .spectral import istft, stft  # noqa: E402

Tensor.stft = stft  # (x.stft(n_fft, ...), as PyTorch's method)
Tensor.istft = istft
from . import backends  # noqa: E402  (torch.backends: a package of flag modules)
from .compat import (  # noqa: E402
    BoolTensor,
    ByteTensor,
    DoubleTensor,
    FloatTensor,
    IntTensor,
    LongTensor,
    e,
    get_num_threads,
    inf,
    inference_mode,
    nan,
    pi,
    set_num_threads,
    set_printoptions,
    use_deterministic_algorithms,
)
from .complex_tensors import (  # noqa: E402
    angle,
    complex,  # noqa: A004 - torch.complex
    conj,
    conj_physical,
    imag,
    is_complex,
    is_conj,
    polar,
    real,
    resolve_conj,
    sgn,
    view_as_complex,
    view_as_real,
)
from .jit.control_flow import cond  # noqa: E402
from .jit.function import trace as _trace_graph  # noqa: E402
from .jit.torch_compile import compile  # noqa: E402, A004  (torch.compile)
from .lowrank import pca_lowrank, svd_lowrank  # noqa: E402
from .memory_errors import OutOfMemoryError  # noqa: E402  (torch.OutOfMemoryError)
from .memory_format import (  # noqa: E402
    channels_last,
    channels_last_3d,
    contiguous_format,
    layout,
    memory_format,
    preserve_format,
    strided,
)
from .tracing import escape_trace, is_tracing  # noqa: E402
from .transforms import grad, value_and_grad  # noqa: E402
from .version import __version__  # noqa: E402 (the PyTorch API level; kiln.version.kiln)

# torch.functional's functions are torch.* too (ops of the same name stay kiln's own)
for _name in functional.__all__:
    globals().setdefault(_name, getattr(functional, _name))

# kiln.func runs the autograd tape (grad, vjp); forward_ad and functional are built on it
from . import (  # noqa: E402
    amp,
    cpu,  # noqa: E402
    func,
)
from . import strict_args as _strict_args  # noqa: E402
from .amp import autocast, get_autocast_dtype, is_autocast_enabled  # noqa: E402, F401
from .autograd import forward_ad as _forward_ad  # noqa: E402, F401  (kiln.autograd.forward_ad)
from .autograd import functional as _autograd_functional  # noqa: E402, F401
from .foreach import *  # noqa: E402, F403  (torch._foreach_add_, ...)
from .func import vmap  # noqa: E402

_complex_tensors.install_jvp_guards()  # (kiln.func attached the JVP rules)
_strict_args.install(
    globals(), vars(functional)
)  # kiln.maximum(t, 2): TypeError as torch's (kiln.ops lenient)

# PyTorch's autocast controls, GradScaler and older top-level names (set_default_tensor_type...)
from .amp import (  # noqa: E402, F401
    GradScaler,
    autocast_decrement_nesting,
    autocast_increment_nesting,
    clear_autocast_cache,
    get_autocast_cpu_dtype,
    get_autocast_gpu_dtype,
    get_autocast_ipu_dtype,
    get_autocast_xla_dtype,
    is_autocast_cache_enabled,
    is_autocast_cpu_enabled,
    set_autocast_cache_enabled,
    set_autocast_cpu_dtype,
    set_autocast_cpu_enabled,
    set_autocast_dtype,
    set_autocast_enabled,
    set_autocast_gpu_dtype,
)
from .legacy_api import *  # noqa: E402, F403


def trace(fn_or_input, *args, **kwargs):
    """Two meanings, told apart by the first argument.

    ``kiln.trace(matrix)`` is PyTorch's ``torch.trace``, the sum of the diagonal;
    ``kiln.trace(fn, *example_args)`` traces ``fn`` and returns its graph (like JAX's
    ``make_jaxpr``).

    >>> trace(tensor([[1.0, 2.0], [3.0, 4.0]]))
    tensor(5.)
    """
    if isinstance(fn_or_input, Tensor):
        return ops.trace(fn_or_input, *args, **kwargs)
    return _trace_graph(fn_or_input, *args, **kwargs)


def is_floating_point(x) -> bool:
    return x.dtype.is_floating_point


def typename(x) -> str:
    return x.type() if isinstance(x, Tensor) else type(x).__name__


def _lazy(name):
    import importlib

    return importlib.import_module(f"kiln.{name}")


_QUANTIZED_TENSOR_NAMES = (
    "quantize_per_tensor",
    "quantize_per_channel",
    "dequantize",
    "qscheme",
    "per_tensor_affine",
    "per_channel_affine",
    "per_tensor_symmetric",
    "per_channel_symmetric",
    "per_channel_affine_float_qparams",
)


def __getattr__(name):
    # Subpackages that are heavier or optional load on first use.
    if name in (
        "nn",
        "fx",
        "optim",
        "utils",
        "cuda",
        "onnx",
        "distributed",
        "testing",
        "export",
        "_C",
        "_dynamo",
        "hub",
        "version",
        "random",
        "distributions",
        "accelerator",
        "serialization",
        "library",
        "masked",
        "signal",
        "sparse",
        "__future__",
        "multiprocessing",
        "quasirandom",
        "ao",
        "quantization",
    ):
        return _lazy(name)
    if name in _QUANTIZED_TENSOR_NAMES:  # (kiln.ao: torch.quantize_per_tensor, ...)
        from .ao import quantized_tensor

        return getattr(quantized_tensor, name)
    if name in ("sparse_coo_tensor", "strided", "layout", "spmm") or name.startswith("sparse_"):
        from . import sparse

        if name in sparse.__all__:
            return getattr(sparse, name)
    if name in ("save", "load"):
        from . import serialization

        return getattr(serialization, name)
    raise AttributeError(f"module 'kiln' has no attribute {name!r}")
