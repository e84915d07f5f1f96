"""torch.backends as a package, torch.cuda's names, torch.testing.make_tensor/assert_close,
and the torch.utils names that tutorials call, each checked against torch 2.13 (CPU)."""

import contextlib
import importlib
import os
import re
import warnings

import numpy as np
import pytest

import kiln
from kiln.runtime import cuda as runtime_cuda

torch = pytest.importorskip("torch")


def _outcome(fn, *args):
    """``("ok", value)`` or ``(exception class name, message)`` of calling ``fn(*args)``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "ok", fn(*args)
    except Exception as error:
        return type(error).__name__, str(error)


@contextlib.contextmanager
def _restored(pairs):
    """Restore ``(object, attribute)`` pairs of both libraries after the block."""
    old = [(obj, name, getattr(obj, name)) for obj, name in pairs]
    try:
        yield
    finally:
        for obj, name, value in old:
            setattr(obj, name, value)


# ------------------------------------------------------------------------ torch.backends


def test_backends_is_a_package_with_torchs_defaults():
    import kiln.backends.cudnn as cudnn
    from kiln.backends import cudnn as same
    from kiln.backends import mkldnn, opt_einsum, quantized

    assert cudnn is same is kiln.backends.cudnn
    for name in ["cudnn", "cuda", "mkldnn", "mps", "openmp", "opt_einsum", "quantized", "cpu"]:
        assert importlib.import_module(f"kiln.backends.{name}") is getattr(kiln.backends, name)
    flags = {
        "cudnn": ["enabled", "deterministic", "benchmark", "benchmark_limit", "allow_tf32"],
        "cudnn ": ["fp32_precision", "depthwise_kernel"],
        "mkldnn": ["enabled", "deterministic", "VERBOSE_OFF", "VERBOSE_ON", "VERBOSE_ON_CREATION"],
        "quantized": ["engine", "supported_engines"],
        "opt_einsum": ["enabled", "strategy"],
        "miopen": ["immediate"],
    }
    for module, names in flags.items():
        for name in names:
            mine = getattr(getattr(kiln.backends, module.strip()), name)
            theirs = getattr(getattr(torch.backends, module.strip()), name)
            assert mine == theirs, (module, name, mine, theirs)
    calls = [
        "cudnn.is_available",
        "cudnn.version",
        "mps.is_available",
        "mps.is_built",
        "cusparselt.is_available",
        "cusparselt.version",
        "kleidiai.is_available",
        "mha.get_fastpath_enabled",
        "opt_einsum.is_available",
        "cuda.is_flash_attention_available",
        "cuda.flash_sdp_enabled",
        "cuda.mem_efficient_sdp_enabled",
        "cuda.math_sdp_enabled",
        "cuda.cudnn_sdp_enabled",
        "cuda.fp16_bf16_reduction_math_sdp_allowed",
    ]
    for call in calls:
        module, name = call.split(".")
        mine = getattr(getattr(kiln.backends, module), name)()
        assert mine == getattr(getattr(torch.backends, module), name)(), call
    assert cudnn.is_acceptable(kiln.ones(1)) is torch.backends.cudnn.is_acceptable(torch.ones(1))
    # kiln says what is true of kiln: no oneDNN, MKL, NNPACK or OpenMP behind it
    for module in ("mkldnn", "mkl", "nnpack", "openmp"):
        assert getattr(kiln.backends, module).is_available() is False
    if "ATEN_CPU_CAPABILITY" not in os.environ:
        assert kiln.backends.cpu.get_cpu_capability() == torch.backends.cpu.get_cpu_capability()
    matmul_names = [
        "allow_tf32",
        "allow_fp16_reduced_precision_reduction",
        "allow_bf16_reduced_precision_reduction",
        "allow_fp16_reduced_precision_reduction_split_k",
        "allow_fp16_accumulation",
    ]
    for name in matmul_names:
        assert getattr(kiln.backends.cuda.matmul, name) == getattr(torch.backends.cuda.matmul, name)
    assert kiln.backends.cuda.SDPBackend is kiln.nn.attention.SDPBackend
    for kind, value in [("linalg", None), ("blas", None), ("blas", "cublas"), ("linalg", "bad")]:
        outcomes = []
        for lib in (kiln, torch):
            fn = getattr(lib.backends.cuda, f"preferred_{kind}_library")
            kind_, result = _outcome(fn, value)
            outcomes.append((kind_, (result.name, int(result)) if kind_ == "ok" else result))
        assert outcomes[0] == outcomes[1], (kind, value, outcomes)
    # (opt_einsum's default strategy is "auto" where the opt_einsum package is installed,
    # None where it is not: jax brings it, CI's test extra does not)
    auto = "auto" if opt_einsum.is_available() else None
    assert (quantized.engine, mkldnn.enabled, opt_einsum.strategy) == ("x86", True, auto)
    assert opt_einsum.is_available() == torch.backends.opt_einsum.is_available()


def test_backend_flags_are_type_checked_as_torchs():
    """Each assignment gives kiln and torch the same outcome (error class and message, or
    the stored value), and every flag is restored afterwards."""
    assignments = [
        ("cudnn", "benchmark", True),
        ("cudnn", "benchmark", 1),
        ("cudnn", "benchmark", "yes"),
        ("cudnn", "enabled", 1),
        ("cudnn", "deterministic", 1),
        ("cudnn", "deterministic", True),
        ("cudnn", "allow_tf32", 1),
        ("cudnn", "fp32_precision", "bad"),
        ("cudnn", "fp32_precision", "tf32"),
        ("cudnn", "depthwise_kernel", "bad"),
        ("cudnn", "depthwise_kernel", "native"),
        ("quantized", "engine", "qnnpack"),
        ("quantized", "engine", "foo"),
        ("quantized", "engine", "none"),
        ("quantized", "supported_engines", []),
    ]
    if kiln.backends.opt_einsum.is_available():  # (else setting a strategy raises: below)
        assignments.append(("opt_einsum", "strategy", "greedy"))
    pairs = []
    for module, name, _ in assignments:
        if name != "supported_engines":
            pairs += [(getattr(lib.backends, module), name) for lib in (kiln, torch)]
    with _restored(dict.fromkeys(pairs)):
        for module, name, value in assignments:
            results = []
            for lib in (kiln, torch):
                owner = getattr(lib.backends, module)
                results.append(
                    _outcome(lambda o, n, v: (setattr(o, n, v), getattr(o, n)), owner, name, value)
                )
            assert results[0] == results[1], (module, name, value, results)
        # (torch 2.13 stores any strategy: its class-level property is shadowed by a global)
        refusal = (
            "must be one of the following"
            if kiln.backends.opt_einsum.is_available()
            else "opt_einsum is not available, so setting `strategy`"
        )
        with pytest.raises(ValueError, match=refusal):
            kiln.backends.opt_einsum.strategy = "bad"


def test_backend_flags_context_managers_restore():
    cudnn, torch_cudnn = kiln.backends.cudnn, torch.backends.cudnn
    names = ["enabled", "benchmark", "deterministic", "allow_tf32"]
    for kwargs in [{}, {"enabled": True, "deterministic": True}, {"benchmark": True}]:
        with cudnn.flags(**kwargs), torch_cudnn.flags(**kwargs):
            inside = [getattr(cudnn, n) for n in names]
            assert inside == [getattr(torch_cudnn, n) for n in names], kwargs
        assert [getattr(cudnn, n) for n in names] == [getattr(torch_cudnn, n) for n in names]
    with warnings.catch_warnings():  # (torch warns of TF32 on Intel GPUs it lacks)
        warnings.simplefilter("ignore")
        with kiln.backends.mkldnn.flags(enabled=False), torch.backends.mkldnn.flags(enabled=False):
            assert kiln.backends.mkldnn.enabled is torch.backends.mkldnn.enabled is False
    assert kiln.backends.mkldnn.enabled is True
    if kiln.backends.opt_einsum.is_available():
        with kiln.backends.opt_einsum.flags(strategy="optimal"):
            assert kiln.backends.opt_einsum.strategy == "optimal"
        assert kiln.backends.opt_einsum.strategy == "auto"
    else:  # (torch's setter's error; the strategy stays None)
        with pytest.raises(ValueError, match="opt_einsum is not available"):
            with kiln.backends.opt_einsum.flags(strategy="optimal"):
                pass
        assert kiln.backends.opt_einsum.strategy is None
    with kiln.backends.mkldnn.verbose(kiln.backends.mkldnn.VERBOSE_ON):
        pass
    # after disable_global_flags an assignment raises, a flags() block still works
    kiln.backends.disable_global_flags()
    try:
        assert kiln.backends.flags_frozen()
        with pytest.raises(RuntimeError, match="not allowed to set kiln.backends.cudnn flags"):
            cudnn.benchmark = True
        with cudnn.flags(benchmark=True):
            assert cudnn.benchmark is True
        kiln.backends.quantized.engine = "x86"  # (not a frozen flag, as in torch)
    finally:
        kiln.backends._FROZEN[0] = False
    assert cudnn.benchmark is False


def test_matmul_allow_tf32_is_the_float32_matmul_precision():
    matmul = kiln.backends.cuda.matmul
    try:
        for lib in (kiln, torch):
            lib.backends.cuda.matmul.allow_tf32 = True
        assert kiln.get_float32_matmul_precision() == torch.get_float32_matmul_precision()
        assert kiln.get_float32_matmul_precision() == "high"
        for lib in (kiln, torch):
            lib.set_float32_matmul_precision("highest")
        assert matmul.allow_tf32 is torch.backends.cuda.matmul.allow_tf32 is False
        for lib in (kiln, torch):
            lib.set_float32_matmul_precision("medium")
        assert matmul.allow_tf32 is torch.backends.cuda.matmul.allow_tf32 is True
    finally:
        for lib in (kiln, torch):
            lib.set_float32_matmul_precision("highest")
    for action in [
        lambda m: setattr(m, "foo", 1),
        lambda m: m.foo,
        lambda m: setattr(m, "allow_tf32", 1),
        lambda m: setattr(m, "allow_fp16_reduced_precision_reduction", 1),
    ]:
        assert _outcome(action, matmul) == _outcome(action, torch.backends.cuda.matmul)
    with _restored([(matmul, "allow_fp16_reduced_precision_reduction")]):
        matmul.allow_fp16_reduced_precision_reduction = (False, False)
        assert not matmul.allow_fp16_reduced_precision_reduction
        assert not matmul.allow_fp16_reduced_precision_reduction_split_k


def test_backend_flags_read_by_a_jitted_function_are_guarded():
    @kiln.jit
    def f(x):
        scale = 2.0 if kiln.backends.cuda.matmul.allow_tf32 else 3.0
        return x * scale + (1.0 if kiln.backends.quantized.engine == "x86" else 0.0)

    x = kiln.ones(2)
    seen = [f(x).tolist()]
    try:
        kiln.backends.cuda.matmul.allow_tf32 = True
        seen.append(f(x).tolist())
        kiln.backends.quantized.engine = "qnnpack"
        seen.append(f(x).tolist())
    finally:
        kiln.backends.cuda.matmul.allow_tf32 = False
        kiln.backends.quantized.engine = "x86"
    seen.append(f(x).tolist())
    assert seen == [[4.0, 4.0], [3.0, 3.0], [2.0, 2.0], [4.0, 4.0]]


def test_sdp_kernel_is_deprecated_and_limits_attention_as_torch():
    q = np.random.default_rng(0).standard_normal((1, 2, 4, 8)).astype(np.float32)
    off = {"enable_flash": False, "enable_math": False, "enable_mem_efficient": False}
    for lib in (kiln, torch):
        with pytest.warns(FutureWarning, match="sdp_kernel\\(\\)` is deprecated"):
            with lib.backends.cuda.sdp_kernel(**off, enable_cudnn=False):
                assert not lib.backends.cuda.math_sdp_enabled()
                assert not lib.backends.cuda.flash_sdp_enabled()
                t = lib.tensor(q)
                with pytest.raises(RuntimeError):
                    lib.nn.functional.scaled_dot_product_attention(t, t, t)
        assert lib.backends.cuda.math_sdp_enabled() and lib.backends.cuda.flash_sdp_enabled()
    # sdpa_kernel(...) sets the *_sdp_enabled() flags for its block, as torch's
    names = ["flash", "math", "mem_efficient", "cudnn"]
    for chosen in [["MATH"], ["FLASH_ATTENTION", "CUDNN_ATTENTION"]]:
        flags = []
        for lib in (kiln, torch):
            attention = lib.nn.attention
            with attention.sdpa_kernel([getattr(attention.SDPBackend, name) for name in chosen]):
                flags.append([getattr(lib.backends.cuda, f"{n}_sdp_enabled")() for n in names])
        assert flags[0] == flags[1], chosen
    assert kiln.backends.cuda.flash_sdp_enabled() and kiln.backends.cuda.math_sdp_enabled()
    with pytest.warns(FutureWarning), kiln.backends.cuda.sdp_kernel(enable_flash=False):
        t = kiln.tensor(q)
        out = kiln.nn.functional.scaled_dot_product_attention(t, t, t)
    expected = torch.nn.functional.scaled_dot_product_attention(*[torch.tensor(q)] * 3)
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- torch.cuda

_CUDA_CALLS = [
    "C.is_available()",
    "C.device_count()",
    "C.is_initialized()",
    "C.init()",
    "C.set_device(-1)",
    "C.current_device()",
    "C.get_device_properties(0)",
    "C.get_device_capability()",
    "C.get_device_name()",
    "C.mem_get_info()",
    "C.ipc_collect()",
    "C.get_arch_list()",
    "C.get_rng_state()",
    "C.get_rng_state_all()",
    "C.seed()",
    "C.seed_all()",
    "C.initial_seed()",
    "C.nvtx.range_push('a')",
    "C.nvtx.range_pop()",
    "C.nvtx.mark('a')",
    "C.Event()",
    "C.Event(enable_timing=True)",
    "C.Stream()",
    "C.current_stream()",
    "C.default_stream()",
    "C.synchronize()",
    "C.empty_cache()",
    "C.memory_allocated()",
    "C.max_memory_allocated()",
    "C.memory_reserved()",
    "C.max_memory_cached()",
    "dict(C.memory_stats())",
    "C.is_bf16_supported()",
    "C.is_tf32_supported()",
    "C.get_gencode_flags()",
    "C.set_per_process_memory_fraction(0.5)",
    "C.has_half",
    "C.has_magma",
    "issubclass(C.OutOfMemoryError, RuntimeError)",
    "C.stream(None).__enter__()",
    "C.device(-1).__enter__() and None",
    "C.device(0).__enter__()",
    "C.device_of(L.zeros(1)).__enter__() and None",
    "C.set_stream(None)",
    "C.FloatTensor(2)",
    "C.LongTensor([1, 2])",
    "C.list_gpu_processes()",
]


def test_cuda_without_a_device_answers_as_torchs_cpu_build(monkeypatch):
    """Without a GPU, each call returns what torch's CPU build returns or raises its
    exception class (messages may say more: kiln names the simulator switch)."""
    monkeypatch.setattr(runtime_cuda, "is_available", lambda: False)
    monkeypatch.setattr(kiln.cuda, "_INITIALIZED", [False])
    for call in _CUDA_CALLS:
        mine = _outcome(eval, call, {"C": kiln.cuda, "L": kiln})
        theirs = _outcome(eval, call, {"C": torch.cuda, "L": torch})
        if mine[0] == "ok" or theirs[0] == "ok":
            assert mine == theirs, call
        else:
            assert mine[0] == theirs[0], (call, mine, theirs)
    with pytest.raises(AssertionError, match="Torch not compiled with CUDA enabled"):
        kiln.cuda.current_device()
    with pytest.raises(RuntimeError, match="NVTX functions not installed"):
        kiln.cuda.nvtx.range_push("x")


def test_cuda_names_with_the_simulator_or_a_gpu():
    cuda = kiln.cuda
    if not cuda.is_available():
        pytest.skip("neither a GPU nor Numba's CUDA simulator")
    cuda.init()
    assert cuda.is_initialized() and cuda.current_device() == 0
    assert kiln.backends.cuda.is_built()  # (a device that runs kiln's kernels: built for it)
    cuda.set_device(0)
    cuda.set_device("cuda:0")
    with pytest.raises(RuntimeError, match="invalid device ordinal"):
        cuda.set_device(cuda.device_count())
    major, minor = cuda.get_device_capability()
    numba_cc = runtime_cuda.numba_cuda().get_current_device().compute_capability
    assert (major, minor) == tuple(numba_cc)
    assert cuda.get_arch_list() == [f"sm_{major}{minor}"]
    props = cuda.get_device_properties(0)
    assert (props.name, props.major, props.minor) == (cuda.get_device_name(), major, minor)
    free, total = cuda.mem_get_info()
    assert 0 <= free <= total == props.total_memory
    with cuda.device(0), cuda.device_of(kiln.ones(1, device="cuda")):
        assert cuda.current_device() == 0
    # events: elapsed times in milliseconds between records, in order
    first, second, third = (cuda.Event(enable_timing=True) for _ in range(3))
    first.record()
    y = kiln.ones(64, device="cuda") * 3.0
    second.record()
    third.record()
    third.synchronize()
    assert y.cpu().tolist() == [3.0] * 64 and third.query()
    assert 0.0 <= first.elapsed_time(second) <= first.elapsed_time(third)
    with pytest.raises(RuntimeError, match="enable_timing=True"):
        cuda.Event().elapsed_time(first)
    with pytest.raises(RuntimeError, match="must be recorded"):
        first.elapsed_time(cuda.Event(enable_timing=True))
    # streams: a handle over kiln's one stream; stream(...) sets the current one
    side = cuda.Stream()
    assert cuda.current_stream() is cuda.default_stream()
    with cuda.stream(side):
        assert cuda.current_stream() is side
        event = side.record_event()
    assert cuda.current_stream() is cuda.default_stream() and event.query()
    side.wait_event(event)
    side.synchronize()
    assert side.query()
    # random state: CUDA draws from kiln's generator
    state = cuda.get_rng_state()
    drawn = kiln.rand(3, device="cuda").cpu().tolist()
    cuda.set_rng_state(state)
    assert kiln.rand(3, device="cuda").cpu().tolist() == drawn
    assert cuda.initial_seed() == kiln.initial_seed()
    assert len(cuda.get_rng_state_all()) == 1
    # nvtx ranges nest (no markers are emitted)
    assert [cuda.nvtx.range_push("a"), cuda.nvtx.range_push("b")] == [0, 1]
    assert [cuda.nvtx.range_pop(), cuda.nvtx.range_pop()] == [1, 0]

    @cuda.nvtx.range("step {}", 1)
    def step():
        return cuda.nvtx._depth

    assert step() == 1 and cuda.nvtx._depth == 0
    legacy = cuda.LongTensor([1, 2])
    assert (legacy.device.type, legacy.dtype, legacy.cpu().tolist()) == ("cuda", kiln.int64, [1, 2])
    assert cuda.HalfTensor(2, 3).shape == (2, 3) and not cuda.is_current_stream_capturing()
    with pytest.raises(NotImplementedError, match="does not count CUDA memory"):
        cuda.memory_stats()
    cuda.reset_peak_memory_stats()
    assert "no counts" in cuda.memory_summary()


# ------------------------------------------------------------------------- torch.testing

_INTEGRAL = ["uint8", "int8", "int16", "int32", "int64", "uint16", "uint32", "uint64"]
_FLOATING = ["float16", "bfloat16", "float32", "float64", "complex64", "complex128"]


def _value_range(t, lib):
    values = lib.view_as_real(t) if t.is_complex() else t
    return values.min().item(), values.max().item()


def test_make_tensor_ranges_dtypes_and_layouts_match_torchs():
    from kiln.testing import make_tensor

    # the default ranges, and explicit ones clamped to the dtype, for every dtype: kiln's
    # values lie where torch's do (bounds torch reaches in 4000 draws)
    for name in ["bool", *_INTEGRAL, *_FLOATING]:
        ranges = [(None, None), (0, 1)] if name == "bool" else [(None, None), (2, 5), (-1e30, 1e30)]
        if name == "uint64":  # (torch's randint overflows for high=2**64)
            ranges.pop()
        for low, high in ranges:
            if name.startswith("uint") and low == 2:
                low = 3
            mine = make_tensor(40, 100, dtype=getattr(kiln, name), device="cpu", low=low, high=high)
            theirs = torch.testing.make_tensor(
                40, 100, dtype=getattr(torch, name), device="cpu", low=low, high=high
            )
            assert mine.dtype.name == str(theirs.dtype).split(".")[1] and mine.shape == (40, 100)
            lo, hi = _value_range(mine, kiln)
            torch_lo, torch_hi = _value_range(
                theirs.to(torch.float64 if not theirs.is_complex() else theirs.dtype), torch
            )
            finite = high is None or abs(high) < 1e20
            if name == "bool" or name in _INTEGRAL:
                assert (lo, hi) == (torch_lo, torch_hi) or not finite, (name, low, lo, hi)
            else:
                bound = 9 if high is None else high
                start = -9 if low is None else low
                # (a draw rounds to the dtype: float16/bfloat16 may round onto or past a bound)
                slack = kiln.finfo(mine.dtype).eps * max(abs(bound), abs(start))
                assert start - slack <= lo and hi <= bound + slack, (name, lo, hi)
                assert torch_lo >= start - slack and torch_hi <= bound + slack
                if finite:
                    assert hi - lo > 0.9 * (bound - start), (name, lo, hi)
    for kwargs in [
        {"noncontiguous": True},
        {"noncontiguous": True, "requires_grad": True},
        {"memory_format": "channels_last"},
        {"exclude_zero": True, "low": -1, "high": 1},
    ]:
        for name in ["float32", "int8"]:
            if kwargs.get("requires_grad") and name == "int8":
                continue
            results = []
            for lib, maker in [(kiln, make_tensor), (torch, torch.testing.make_tensor)]:
                args = dict(kwargs)
                if "memory_format" in args:
                    args["memory_format"] = getattr(lib, args["memory_format"])
                t = maker((2, 3, 4, 5), dtype=getattr(lib, name), device="cpu", **args)
                results.append(
                    (
                        tuple(t.shape),
                        t.is_contiguous(),
                        t.requires_grad,
                        t.is_leaf,
                        bool((t == 0).any()),
                        t.is_contiguous(memory_format=lib.channels_last),
                    )
                )
            assert results[0] == results[1], (name, kwargs, results)
    t = make_tensor(1000, dtype=kiln.float32, device="cpu", low=0.0, high=1e-38, exclude_zero=True)
    assert not bool((t == 0).any())


def test_make_tensor_errors_are_torchs():
    from kiln.testing import make_tensor

    cases = [
        ((3,), {"dtype": "int64", "requires_grad": True}),
        ((3,), {"dtype": "float32", "low": 5, "high": 2}),
        ((3,), {"dtype": "float32", "low": float("nan")}),
        ((3,), {"dtype": "uint8", "low": -10, "high": -5}),
        ((3,), {"dtype": "float32", "noncontiguous": True, "memory_format": "contiguous_format"}),
        ((3,), {"dtype": "int8", "low": 1.5, "high": 4.2}),
        (([2, 3],), {"dtype": "float64", "low": 1.0, "high": 1.5}),
    ]
    for args, kwargs in cases:
        outcomes = []
        for lib, maker in [(kiln, make_tensor), (torch, torch.testing.make_tensor)]:
            named = dict(kwargs, dtype=getattr(lib, kwargs["dtype"]))
            if "memory_format" in named:
                named["memory_format"] = getattr(lib, named["memory_format"])
            kind, value = _outcome(lambda m, a, k: m(*a, device="cpu", **k), maker, args, named)
            if kind == "ok":
                value = (
                    tuple(value.shape),
                    str(value.dtype).split(".")[1],
                    value.min().item() >= 1,
                )
            else:
                value = value.replace("torch.", "").replace("kiln.", "")
            outcomes.append((kind, value))
        assert outcomes[0] == outcomes[1], (args, kwargs, outcomes)
    with pytest.warns(FutureWarning, match="low==high"):
        assert make_tensor(3, dtype=kiln.float32, device="cpu", low=2, high=2).tolist() == [2.0] * 3


_CLOSE_CASES = [
    (lambda T: (T.tensor([1.0, 2.0, 3.0]), T.tensor([1.0, 2.5, 3.0])), {}),
    (lambda T: (T.ones(2), T.ones(3)), {}),
    (lambda T: (T.ones(2), T.ones(2, dtype=T.float64)), {}),
    (lambda T: (T.tensor([1, 2]), T.tensor([1, 3])), {}),
    (lambda T: (T.tensor([float("nan")]), T.tensor([float("nan")])), {}),
    (lambda T: (T.tensor([float("nan")]), T.tensor([float("nan")])), {"equal_nan": True}),
    (lambda T: (T.tensor([float("inf")]), T.tensor([-float("inf")])), {}),
    (lambda T: (1.0, 1.1), {}),
    (lambda T: (T.tensor([True]), T.tensor([False])), {}),
    (lambda T: (T.ones(2), T.ones(2)), {"rtol": 0.1}),
    (lambda T: (T.ones(2), T.ones(2)), {"atol": 0.1}),
    (lambda T: ([T.ones(2)], [T.zeros(2)]), {}),
    (lambda T: (T.ones(2), T.zeros(2)), {"msg": "custom"}),
    (lambda T: (T.ones(2), T.zeros(2)), {"msg": lambda m: "X:" + m.splitlines()[0]}),
    (lambda T: (T.zeros(2, 2), T.tensor([[0.0, 0.0], [0.0, 1.0]])), {}),
    (lambda T: (np.ones(2), np.zeros(2)), {}),
    (lambda T: (True, False), {}),
    (lambda T: (None, 1), {}),
    (lambda T: (None, None), {}),
    (lambda T: ({"a": T.ones(1)}, {"a": T.zeros(1)}), {}),
    (lambda T: ({"a": 1}, {"b": 1}), {}),
    (lambda T: ([1, 2], [1, 2, 3]), {}),
    (lambda T: ([T.ones(2), (T.ones(1), T.zeros(1))], [T.ones(2), (T.ones(1), T.ones(1))]), {}),
    (lambda T: (T.tensor([1, 2]), T.tensor([1, 3])), {"rtol": 0, "atol": 1}),
    (lambda T: (T.tensor(1.0), T.tensor(2.0)), {}),
    (lambda T: (T.tensor([1 + 1j]), T.tensor([1 + 2j])), {}),
    (lambda T: (T.tensor([1.0]), T.tensor([1.0 + 1e-6], dtype=T.float64)), {"check_dtype": False}),
    (lambda T: (T.tensor([1.0]), T.tensor([1.1], dtype=T.float64)), {"check_dtype": False}),
    (lambda T: (T.ones(2, 2).t(), T.ones(2, 2)), {"check_stride": True}),
    (lambda T: ("a", "a"), {}),
    (lambda T: (T.tensor([2**40]), T.tensor([2**40 + 1])), {}),
    (lambda T: (T.tensor([0], dtype=T.uint8), T.tensor([255], dtype=T.uint8)), {}),
    (lambda T: (T.tensor([1.0, 2.0], dtype=T.float16), T.tensor([1.0, 2.01], dtype=T.float16)), {}),
    (lambda T: (T.arange(12.0).reshape(3, 4), T.arange(12.0).reshape(3, 4) * 1.01), {}),
    (lambda T: (T.ones(0), T.ones(0)), {}),
    (lambda T: (T.ones(1, requires_grad=True), T.ones(1)), {}),
    (lambda T: (T.ones(2), np.ones(2, dtype=np.float32)), {}),
    (lambda T: (T.tensor(1.0), 1.0), {}),
    (lambda T: (T.ones(2), [1.0, 1.0]), {}),
    (lambda T: (np.ones(1), [1.0]), {}),
    (lambda T: (np.ones(1), np.ones(1, dtype=np.float32)), {}),
    (lambda T: (np.ones(2), np.ones(3)), {}),
    (lambda T: (1, 1.0), {}),
    (lambda T: (1, 1.0), {"check_dtype": False}),
    (lambda T: (np.float64(1.0), 1.0), {}),
    (lambda T: (T.ones(1), T.nn.Parameter(T.ones(1))), {"allow_subclasses": False}),
    (lambda T: (T.ones(1), T.nn.Parameter(T.ones(1))), {}),
]


def test_assert_close_raises_torchs_errors_and_messages():
    for make, kwargs in _CLOSE_CASES:
        outcomes = []
        for lib in (kiln, torch):
            actual, expected = make(lib)
            kind, text = _outcome(
                lambda lib, a, e, k: lib.testing.assert_close(a, e, **k),
                lib,
                actual,
                expected,
                kwargs,
            )
            text = re.sub(r"<class '[\w.]*?(\w+)'>", r"<class '\1'>", str(text))  # (module paths)
            outcomes.append((kind, text.replace("torch.", "").replace("kiln.", "")))
        assert outcomes[0] == outcomes[1], (kwargs, outcomes)


def test_sdpa_kernel_flash_runs_what_torchs_cpu_flash_kernel_takes():
    """On the CPU torch's FLASH_ATTENTION backend takes 4-d inputs without dropout and with
    one head size; kiln's math attention stands in for it there and refuses the rest."""
    rng = np.random.default_rng(0)
    q = rng.standard_normal((1, 2, 4, 8)).astype(np.float32)
    wide = rng.standard_normal((1, 2, 4, 16)).astype(np.float32)
    calls = {
        "plain": lambda F, T: F.scaled_dot_product_attention(T(q), T(q), T(q)),
        "causal": lambda F, T: F.scaled_dot_product_attention(T(q), T(q), T(q), is_causal=True),
        "gqa": lambda F, T: F.scaled_dot_product_attention(
            T(q), T(q)[:, :1], T(q)[:, :1], enable_gqa=True
        ),
        "dropout": lambda F, T: F.scaled_dot_product_attention(T(q), T(q), T(q), dropout_p=0.5),
        "3-d": lambda F, T: F.scaled_dot_product_attention(T(q[0]), T(q[0]), T(q[0])),
        "head sizes": lambda F, T: F.scaled_dot_product_attention(T(q), T(q), T(wide)),
    }
    for name, call in calls.items():
        results = []
        for lib in (kiln, torch):
            attention = importlib.import_module(lib.__name__ + ".nn.attention")
            with attention.sdpa_kernel(attention.SDPBackend.FLASH_ATTENTION):
                kind, value = _outcome(call, lib.nn.functional, lib.tensor)
            results.append((kind, value.detach().numpy() if kind == "ok" else None))
        assert results[0][0] == results[1][0], (name, results)
        if results[0][0] == "ok":
            np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-5, atol=1e-5)
