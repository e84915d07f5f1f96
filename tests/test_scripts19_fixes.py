"""Regression tests of the fixes that the scripts of tests/scripts19 led to, each compared
with PyTorch: autograd.grad's ``only_inputs`` / ``is_grads_batched`` (WGAN-GP),
ChainDataset / StackDataset and ``IterableDataset + IterableDataset``, torch.outer's type
promotion (rotary embeddings), torch.accelerator (the quickstart), weights-only loading
with ``torch.serialization.add_safe_globals`` / ``safe_globals``, torch.gradient,
torch.nn.attention.sdpa_kernel, and the fusion helpers exported from torch.nn.utils."""

from __future__ import annotations

import dataclasses
import io
import pickle

import numpy as np
import pytest

import kiln

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


# ------------------------------------------------------------------------ autograd.grad


def test_grad_accepts_only_inputs_like_torch():
    def run(lib):
        x = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        y = (x.sin() * x).sum()
        (g,) = lib.autograd.grad(
            outputs=y,
            inputs=x,
            grad_outputs=lib.ones_like(y),
            create_graph=True,
            retain_graph=True,
            only_inputs=True,
        )
        (gg,) = lib.autograd.grad(g.sum(), x)
        return g, gg

    for a, b in zip(run(kiln), run(torch), strict=True):
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-6)


def test_grad_positional_arguments_follow_torch_order():
    # (outputs, inputs, grad_outputs, retain_graph, create_graph, only_inputs, allow_unused)
    def run(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        unused = lib.tensor([3.0], requires_grad=True)
        return lib.autograd.grad((x**2).sum(), (x, unused), None, None, False, True, True)

    got, want = run(kiln), run(torch)
    np.testing.assert_allclose(_np(got[0]), _np(want[0]))
    assert got[1] is None and want[1] is None


def test_grad_is_grads_batched_matches_torch():
    a = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]], dtype=np.float32)

    def run(lib, create_graph):
        x = lib.tensor([0.3, -0.7, 1.1], requires_grad=True)
        w = lib.tensor(a)
        y = w @ x.exp()  # two outputs
        (jac,) = lib.autograd.grad(
            y, x, lib.eye(2), is_grads_batched=True, create_graph=create_graph
        )
        return x, jac

    for create_graph in (False, True):
        (kx, kj), (tx, tj) = run(kiln, create_graph), run(torch, create_graph)
        np.testing.assert_allclose(_np(kj), _np(tj), rtol=1e-6)
        assert tuple(kj.shape) == (2, 3)
        assert kj.requires_grad == tj.requires_grad == create_graph
    kj.sum().backward()
    tj.sum().backward()
    np.testing.assert_allclose(_np(kx.grad), _np(tx.grad), rtol=1e-6)


# --------------------------------------------------------------------------- datasets


def _stream(lib, start, end):
    class Stream(lib.utils.data.IterableDataset):
        def __iter__(self):
            return iter(range(start, end))

        def __len__(self):
            return end - start

    return Stream()


def test_chain_dataset_and_iterable_addition_match_torch():
    def run(lib):
        data = lib.utils.data
        chain = data.ChainDataset([_stream(lib, 0, 3), _stream(lib, 10, 12)])
        added = _stream(lib, 5, 7) + _stream(lib, 1, 2)
        batches = [b.tolist() for b in data.DataLoader(chain, batch_size=2)]
        return list(chain), len(chain), type(added).__name__, list(added), batches

    assert run(kiln) == run(torch)
    bad = kiln.utils.data.ChainDataset([kiln.utils.data.TensorDataset(kiln.ones(2))])
    with pytest.raises(AssertionError, match="IterableDataset"):
        list(bad)


def test_stack_dataset_matches_torch():
    def run(lib):
        data = lib.utils.data
        a, b = lib.arange(4.0), lib.arange(4) * 10
        as_tuple = data.StackDataset(a, b)
        as_dict = data.StackDataset(x=a, y=b)
        batch = next(iter(data.DataLoader(as_dict, batch_size=3)))
        return (
            len(as_tuple),
            [t.tolist() for t in as_tuple[2]],
            {k: v.tolist() for k, v in as_dict[1].items()},
            {k: v.tolist() for k, v in batch.items()},
        )

    assert run(kiln) == run(torch)
    for lib in (kiln, torch):
        with pytest.raises(ValueError):
            lib.utils.data.StackDataset(lib.ones(2), lib.ones(3))
        with pytest.raises(ValueError):
            lib.utils.data.StackDataset(lib.ones(2), y=lib.ones(2))


# ---------------------------------------------------------------------------- outer


@pytest.mark.parametrize(
    "a, b",
    [
        (np.arange(4), np.array([0.5, 1.5], dtype=np.float32)),
        (np.array([1.0, 2.0], dtype=np.float64), np.array([3.0], dtype=np.float32)),
        (np.array([True, False]), np.array([2, 3])),
        (np.array([2, 3], dtype=np.int32), np.array([4, 5], dtype=np.int64)),
    ],
)
def test_outer_promotes_like_torch(a, b):
    got = kiln.outer(kiln.tensor(a), kiln.tensor(b))
    want = torch.outer(torch.tensor(a), torch.tensor(b))
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_outer_gradient_matches_torch():
    def run(lib):
        x = lib.tensor([1.0, -2.0], requires_grad=True)
        y = lib.tensor([0.5, 3.0, 4.0], requires_grad=True)
        (lib.outer(x, y) * lib.arange(6.0).reshape(2, 3)).sum().backward()
        return x.grad, y.grad

    for g, w in zip(run(kiln), run(torch), strict=True):
        np.testing.assert_allclose(_np(g), _np(w))
    with pytest.raises(RuntimeError, match="1-D"):
        kiln.outer(kiln.ones(2, 2), kiln.ones(2))


# ---------------------------------------------------------------------- accelerator


def test_accelerator_api_follows_kiln_cuda():
    acc = kiln.accelerator
    assert acc.is_available() == kiln.cuda.is_available()
    if not acc.is_available():
        assert acc.current_accelerator() is None and acc.device_count() == 0
        with pytest.raises(RuntimeError, match="no accelerator"):
            acc.current_device_index()
        acc.synchronize()  # a no-op, as on a CPU-only PyTorch
        with acc.device_index(None):
            pass
    else:
        assert acc.current_accelerator().type == "cuda"
        assert acc.device_count() == kiln.cuda.device_count()
    device = acc.current_accelerator().type if acc.is_available() else "cpu"
    assert kiln.ones(2, device=device).device.type == device


# ---------------------------------------------------------------- weights-only loading


@dataclasses.dataclass
class _Config:
    lr: float
    name: str


class _Other:
    pass


def _saved(lib, obj):
    buffer = io.BytesIO()
    lib.save(obj, buffer)
    buffer.seek(0)
    return buffer


@pytest.fixture
def clean_safe_globals():
    kiln.serialization.clear_safe_globals()
    torch.serialization.clear_safe_globals()
    yield
    kiln.serialization.clear_safe_globals()
    torch.serialization.clear_safe_globals()


def test_weights_only_load_with_safe_globals_matches_torch(clean_safe_globals):
    def run(lib):
        results = []
        ckpt = {"cfg": _Config(0.5, "a"), "w": lib.arange(3.0)}
        try:
            lib.load(_saved(lib, ckpt), weights_only=True)
            results.append("loaded")
        except pickle.UnpicklingError:
            results.append("refused")
        with lib.serialization.safe_globals([_Config]):
            back = lib.load(_saved(lib, ckpt), weights_only=True)
            results.append((back["cfg"], back["w"].tolist()))
            results.append(_Config in lib.serialization.get_safe_globals())
        results.append(_Config in lib.serialization.get_safe_globals())
        lib.serialization.add_safe_globals([_Config])
        results.append(lib.load(_saved(lib, ckpt))["cfg"])
        try:  # an allowlisted class holding one that is not
            lib.load(_saved(lib, {"cfg": _Config(0.1, _Other())}), weights_only=True)
            results.append("loaded")
        except pickle.UnpicklingError:
            results.append("refused")
        return results

    assert run(kiln) == run(torch)


def test_safe_globals_do_not_allow_arbitrary_callables(clean_safe_globals):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    kiln.serialization.add_safe_globals([_Config])
    with pytest.raises(pickle.UnpicklingError, match="print"):
        kiln.load(_saved(kiln, {"x": Evil()}), weights_only=True)


# -------------------------------------------------------------------------- gradient


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"spacing": 2.0},
        {"dim": 1},
        {"dim": -1, "edge_order": 2},
        {"spacing": [0.5, 3.0]},
        {"spacing": (2.0,), "dim": (1,)},
        {"dim": [1, 0], "spacing": [1.0, 4.0]},
    ],
)
def test_gradient_matches_torch(kwargs):
    a = np.array([[1.0, 2.0, 4.0, 8.0, 3.0], [2.0, 5.0, 9.0, 3.0, -1.0], [0, 1, 0, 1, 0]])
    got = kiln.gradient(kiln.tensor(a, dtype=kiln.float32), **kwargs)
    want = torch.gradient(torch.tensor(a, dtype=torch.float32), **kwargs)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == kiln.float32
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-6)


def test_gradient_coordinates_integers_and_autograd_match_torch():
    x = [-2.0, -1.0, 1.0, 4.0, 4.5]
    v = [4.0, 1.0, 1.0, 16.0, 3.0]
    for edge_order in (1, 2):
        (g,) = kiln.gradient(kiln.tensor(v), spacing=(kiln.tensor(x),), edge_order=edge_order)
        (w,) = torch.gradient(torch.tensor(v), spacing=(torch.tensor(x),), edge_order=edge_order)
        np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-6)
    (gi,) = kiln.gradient(kiln.tensor([1, 4, 9, 16]))
    (wi,) = torch.gradient(torch.tensor([1, 4, 9, 16]))
    assert gi.dtype == kiln.float32 and wi.dtype == torch.float32
    np.testing.assert_array_equal(gi.numpy(), wi.numpy())

    def run(lib):
        t = lib.tensor([1.0, 4.0, 2.0, 16.0, 5.0], requires_grad=True)
        (d,) = lib.gradient(t, edge_order=2, spacing=0.5)
        (d * lib.arange(5.0)).sum().backward()
        return t.grad

    np.testing.assert_allclose(_np(run(kiln)), _np(run(torch)), rtol=1e-6)


def test_gradient_errors_like_torch():
    for lib in (kiln, torch):
        with pytest.raises(RuntimeError, match="edge_order"):
            lib.gradient(lib.ones(2), edge_order=2)
        with pytest.raises(RuntimeError, match="spacing"):
            lib.gradient(lib.ones(3, 3), spacing=[1.0, 2.0, 3.0])


# -------------------------------------------------------------------------- sdpa_kernel


def test_sdpa_kernel_matches_torch_on_cpu():
    q = np.sin(np.arange(48, dtype=np.float32)).reshape(1, 2, 4, 6)

    def run(lib):
        from importlib import import_module

        attention = import_module(lib.__name__ + ".nn.attention")
        F = lib.nn.functional
        x = lib.tensor(q)
        plain = F.scaled_dot_product_attention(x, x, x, is_causal=True)
        with attention.sdpa_kernel(attention.SDPBackend.MATH):
            math_out = F.scaled_dot_product_attention(x, x, x, is_causal=True)
        with attention.sdpa_kernel(
            [attention.SDPBackend.FLASH_ATTENTION, attention.SDPBackend.MATH]
        ):
            listed = F.scaled_dot_product_attention(x, x, x, is_causal=True)
        raised = False
        with attention.sdpa_kernel(attention.SDPBackend.CUDNN_ATTENTION):  # entering is fine
            try:
                F.scaled_dot_product_attention(x, x, x)
            except RuntimeError:
                raised = True
        after = F.scaled_dot_product_attention(x, x, x, is_causal=True)  # the setting is undone
        return plain, math_out, listed, after, raised

    got, want = run(kiln), run(torch)
    assert got[-1] is True and want[-1] is True
    for g, w in zip(got[:-1], want[:-1], strict=True):
        np.testing.assert_allclose(_np(g), _np(w), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------ fusion


def test_fusion_helpers_are_exported_from_nn_utils_like_torch():
    for name in (
        "fuse_conv_bn_eval",
        "fuse_conv_bn_weights",
        "fuse_linear_bn_eval",
        "fuse_linear_bn_weights",
    ):
        assert hasattr(torch.nn.utils, name)
        assert getattr(kiln.nn.utils, name) is getattr(kiln.nn.utils.fusion, name)


# ------------------------------------------------- older namespaces and loader options


def test_cuda_amp_namespace_passes_through_like_torch_on_cpu():
    import warnings

    warnings.simplefilter("ignore")
    for lib in (kiln, torch):
        if lib.cuda.is_available():  # (kiln under tests/conftest.py's CUDA simulator)
            continue
        with lib.cuda.amp.autocast():
            assert (lib.ones(2, 2) @ lib.ones(2, 2)).dtype == lib.float32
        assert lib.cuda.amp.GradScaler().is_enabled() is False
        assert lib.cuda.amp.GradScaler(enabled=False).get_scale() == 1.0
    with kiln.cuda.amp.autocast(enabled=False):
        assert not kiln.is_autocast_enabled("cuda")


def test_persistent_workers_accepted_like_torch():
    def run(lib):
        data = lib.utils.data
        loader = data.DataLoader(
            data.TensorDataset(lib.arange(7.0)),
            batch_size=3,
            num_workers=2,
            persistent_workers=True,
        )
        return [[b[0].tolist() for b in loader] for _ in range(2)], loader.persistent_workers

    assert run(kiln) == run(torch)
    for lib in (kiln, torch):
        with pytest.raises(ValueError, match="persistent_workers"):
            lib.utils.data.DataLoader(lib.arange(3), num_workers=0, persistent_workers=True)


def test_distributed_sampler_import_paths_match_torch():
    import torch.utils.data.distributed as td

    import kiln.utils.data.distributed as kd

    assert kiln.utils.data.DistributedSampler is kd.DistributedSampler
    assert kiln.utils.data.DistributedSampler is kiln.distributed.DistributedSampler
    for kwargs in ({"shuffle": False}, {"shuffle": False, "drop_last": True}):
        for rank in range(3):
            got = list(kd.DistributedSampler(range(8), num_replicas=3, rank=rank, **kwargs))
            want = list(td.DistributedSampler(range(8), num_replicas=3, rank=rank, **kwargs))
            assert got == want
    with pytest.raises(AttributeError):
        kiln.utils.data.NoSuchSampler  # noqa: B018


def test_stateless_functional_call_matches_torch():
    w = np.array([[0.5, -1.0], [2.0, 0.25]], dtype=np.float32)

    def run(lib):
        m = lib.nn.Linear(2, 2)
        params = {"weight": lib.tensor(w), "bias": lib.tensor([0.1, 0.2])}
        out = lib.nn.utils.stateless.functional_call(m, params, (lib.ones(1, 2),))
        return out, m.weight.shape

    (ko, ks), (to, ts) = run(kiln), run(torch)
    np.testing.assert_allclose(_np(ko), _np(to), rtol=1e-6)
    assert tuple(ks) == tuple(ts)


# ----------------------------------------------------------------------- Node hooks


def _node_hook_run(lib):
    log = []
    a = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
    b = a * 3
    c = b.sin()
    loss = (c * a).sum()
    b.register_hook(lambda g: log.append(("tensor", g.tolist())))
    h_pre = b.grad_fn.register_prehook(
        lambda go: (log.append(("pre", len(go), go[0].tolist())), (go[0] * 0.5,))[1]
    )
    h_post = b.grad_fn.register_hook(
        lambda gi, go: log.append(
            ("post", [None if g is None else g.tolist() for g in gi], go[0].tolist())
        )
    )
    loss.backward(retain_graph=True)
    first = a.grad.clone()
    h_pre.remove()
    h_post.remove()
    a.grad = None
    clip = c.grad_fn.register_hook(lambda gi, go: tuple(g.clamp(-1, 1) for g in gi))
    loss.backward(retain_graph=True)
    clip.remove()
    second = a.grad.clone()
    a.grad = None
    loss.backward()
    return log, first, second, a.grad, type(h_pre).__name__


def test_node_prehooks_and_hooks_match_torch():
    got, want = _node_hook_run(kiln), _node_hook_run(torch)
    assert [e[0] for e in got[0]] == [e[0] for e in want[0]]
    assert [e[0] for e in got[0][:3]] == ["tensor", "pre", "post"]
    assert got[0][1][1] == want[0][1][1] == 1
    assert got[0][2][1][1] is None and want[0][2][1][1] is None
    np.testing.assert_allclose(got[0][2][1][0], want[0][2][1][0], rtol=1e-5)
    np.testing.assert_allclose(got[0][2][2], want[0][2][2], rtol=1e-5)
    for g, w in zip(got[1:4], want[1:4], strict=True):
        np.testing.assert_allclose(_np(g), _np(w), rtol=1e-5)
    assert got[4] == want[4] == "RemovableHandle"


def test_node_hooks_of_multi_output_custom_function_match_torch():
    def run(lib):
        class Two(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, g1, g2):
                return g1 * 2 + g2 * 3

        seen = []
        x = lib.ones(2, requires_grad=True)
        o1, o2 = Two.apply(x)
        o1.grad_fn.register_prehook(
            lambda go: seen.append([None if t is None else t.tolist() for t in go])
        )
        o1.grad_fn.register_hook(lambda gi, go: (gi[0] * 10,))
        (o1.sum() + o2.sum() * 2).backward()
        return seen, x.grad.tolist()

    assert run(kiln) == run(torch)


# ------------------------------------------------------------------ trace handler


def test_tensorboard_trace_handler_writes_traces_like_torch(tmp_path):
    import json

    def run(lib, folder, **kwargs):
        prof_mod = lib.profiler
        with prof_mod.profile(
            activities=[prof_mod.ProfilerActivity.CPU],
            schedule=prof_mod.schedule(wait=0, warmup=1, active=1, repeat=2),
            on_trace_ready=prof_mod.tensorboard_trace_handler(str(folder), **kwargs),
        ) as prof:
            for _ in range(4):
                with prof_mod.record_function("step"):
                    lib.ones(3).sum()
                prof.step()
        return sorted(p.name for p in folder.iterdir())

    for kwargs, suffix in (({"worker_name": "w"}, ".pt.trace.json"), ({"use_gzip": True}, ".gz")):
        k, t = tmp_path / f"k{suffix}", tmp_path / f"t{suffix}"
        got, want = run(kiln, k, **kwargs), run(torch, t, **kwargs)
        assert len(got) == len(want) == 2
        assert all(n.endswith(suffix) for n in got + want)
        if "worker_name" in kwargs:
            assert all(n.startswith("w.") for n in got)
            trace = json.loads((k / got[0]).read_text())
            assert any(e["name"] == "step" for e in trace["traceEvents"])


# ------------------------------------------------------------------- custom operators


def _annotated(lib, fn, **types):
    """``fn`` with real annotations (PyTorch infers the operator's schema from them; this
    module's ``from __future__ import annotations`` would leave strings)."""
    fn.__annotations__ = {k: (lib.Tensor if v == "T" else v) for k, v in types.items()}
    return fn


def _define_ops(lib, tag):
    def window(x, lo, hi):
        return lib.from_numpy(np.ascontiguousarray(x.detach().numpy()[..., lo:hi]))

    window = lib.library.custom_op(f"s19{tag}::window", mutates_args=())(
        _annotated(lib, window, x="T", lo=int, hi=int, **{"return": "T"})
    )

    @window.register_fake
    def _(x, lo, hi):
        return x.new_empty(*x.shape[:-1], hi - lo)

    def setup_context(ctx, inputs, output):
        x, lo, hi = inputs
        ctx.shape, ctx.lo, ctx.hi = x.shape, lo, hi

    def backward(ctx, g):
        out = g.new_zeros(ctx.shape)
        out[..., ctx.lo : ctx.hi] = g * 2  # a deliberately different rule, seen in grads
        return out, None, None

    window.register_autograd(backward, setup_context=setup_context)
    return window


def test_custom_op_autograd_and_torch_ops_match_torch():
    x0 = np.arange(12, dtype=np.float32).reshape(3, 4)

    def run(lib, tag):
        window = _define_ops(lib, tag)
        x = lib.tensor(x0, requires_grad=True)
        y = window(x, 1, 3)
        (y * lib.tensor([1.0, -1.0])).sum().backward()
        via_ops = getattr(lib.ops, f"s19{tag}").window(x, 0, 2)
        return y, x.grad, via_ops, y.requires_grad

    got, want = run(kiln, "a"), run(torch, "a")
    for g, w in zip(got[:3], want[:3], strict=True):
        np.testing.assert_array_equal(_np(g), _np(w))
    assert got[3] is want[3] is True


def test_custom_op_without_autograd_and_mutating_op_match_torch():
    def run(lib, tag):
        def plain(x):
            return x * 2

        def fill_sin(x, out):
            np.sin(x.numpy(), out=out.numpy())

        plain = lib.library.custom_op(f"s19{tag}::plain", mutates_args=())(
            _annotated(lib, plain, x="T", **{"return": "T"})
        )
        fill_sin = lib.library.custom_op(
            f"s19{tag}::fill_sin", mutates_args={"out"}, device_types="cpu"
        )(_annotated(lib, fill_sin, x="T", out="T", **{"return": None}))

        y = plain(lib.ones(2))
        out = lib.zeros(3)
        returned = fill_sin(lib.tensor([0.0, 1.0, 2.0]), out)
        return y.tolist(), y.requires_grad, out.tolist(), returned

    assert run(kiln, "b") == run(torch, "b")
    with pytest.raises(ValueError):
        kiln.library.custom_op("no_namespace", mutates_args=())(lambda x: x)


def test_opcheck_passes_and_fails_like_torch():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    for lib, tag in ((kiln, "c"), (torch, "c")):
        window = _define_ops(lib, tag)
        result = lib.library.opcheck(window, (lib.tensor(x, requires_grad=True), 1, 3))
        assert all(v == "SUCCESS" for v in result.values())
    for lib, tag in ((kiln, "d"), (torch, "d")):
        lying = _define_ops(lib, tag)

        @lying.register_fake
        def _(x, lo, hi):  # one column too many
            return x.new_empty(*x.shape[:-1], hi - lo + 1)

        with pytest.raises(Exception, match="(?i)fake|mismatch|shape"):
            lib.library.opcheck(lying, (lib.tensor(x), 1, 3))


def test_opcheck_compares_strides_like_torch():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    for lib, tag in ((kiln, "e"), (torch, "e")):
        transposed = _define_ops(lib, tag)

        @transposed.register_fake
        def _(x, lo, hi):  # the right shape, but column-major
            return x.new_empty(hi - lo, x.shape[0]).t()

        with pytest.raises(Exception, match="(?i)stride"):
            lib.library.opcheck(transposed, (lib.tensor(x), 1, 3))


# ---------------------------------------------------------------- signal.windows


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("bartlett", {}),
        ("blackman", {}),
        ("cosine", {}),
        ("exponential", {"tau": 2.0}),
        ("gaussian", {"std": 2.5}),
        ("general_cosine", {"a": [0.46, 0.23, 0.31]}),
        ("general_hamming", {"alpha": 0.6}),
        ("hamming", {}),
        ("hann", {}),
        ("kaiser", {"beta": 3.0}),
        ("nuttall", {}),
    ],
)
def test_signal_windows_match_torch(name, kwargs):
    for M in (0, 1, 2, 5, 8):
        for sym in (True, False):
            for dtype in ("float32", "float64"):
                got = getattr(kiln.signal.windows, name)(
                    M, sym=sym, dtype=getattr(kiln, dtype), **kwargs
                )
                want = getattr(torch.signal.windows, name)(
                    M, sym=sym, dtype=getattr(torch, dtype), **kwargs
                )
                assert got.dtype == getattr(kiln, dtype)
                np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)


def test_signal_window_exponential_center_and_errors_match_torch():
    for M in (1, 4, 7):
        got = kiln.signal.windows.exponential(M, center=1.0, tau=2.0, sym=False)
        want = torch.signal.windows.exponential(M, center=1.0, tau=2.0, sym=False)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    for lib in (kiln, torch):
        w = lib.signal.windows
        with pytest.raises(ValueError):
            w.exponential(4, center=1.0)  # a center only for periodic windows
        with pytest.raises(ValueError):
            w.gaussian(4, std=0.0)
        with pytest.raises(ValueError):
            w.hann(-1)


# ---------------------------------------------------------- register_multi_grad_hook


def test_register_multi_grad_hook_matches_torch():
    def run(lib):
        log = []
        a = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        b = lib.tensor([0.5, -1.0, 2.0], requires_grad=True)
        c, d = a * b, a * b
        h = lib.autograd.graph.register_multi_grad_hook(
            (a, b, c, d), lambda gs: log.append([None if g is None else g.tolist() for g in gs])
        )
        c.sum().backward(retain_graph=True)
        (c * 2 + d).sum().backward(retain_graph=True)
        h2 = lib.autograd.graph.register_multi_grad_hook(
            (a, b), lambda g: log.append(("any", g.tolist())), mode="any"
        )
        (c.sum() * 3).backward(retain_graph=True)
        h.remove()
        h2.remove()
        c.sum().backward()
        return log, a.grad.tolist()

    assert run(kiln) == run(torch)
    with pytest.raises(ValueError, match="mode"):
        kiln.autograd.graph.register_multi_grad_hook((kiln.ones(1),), print, mode="some")


# ------------------------------------------------------- set_submodule, mark_dynamic


def test_set_submodule_matches_torch():
    def run(lib):
        nn = lib.nn
        m = nn.Sequential(nn.Sequential(nn.ReLU(), nn.Linear(2, 2)))
        m.set_submodule("0.1", nn.Tanh())
        m.set_submodule("0.2", nn.Sigmoid())  # a new name, strict=False
        out = [[type(x).__name__ for x in m.modules()]]
        for args in [("", nn.ReLU()), ("0.5", nn.ReLU(), True), ("0.0", 3), ("9.1", nn.ReLU())]:
            try:
                m.set_submodule(*args)
                out.append("ok")
            except (ValueError, AttributeError) as e:
                out.append(type(e).__name__)
        return out, m(lib.ones(1, 2)).tolist()

    assert run(kiln) == run(torch)


def test_mark_dynamic_is_accepted_and_compile_still_agrees():
    def f(x):
        return (x * 2).sum(0)

    for lib in (kiln, torch):
        x = lib.arange(6.0).reshape(2, 3)
        lib._dynamo.mark_dynamic(x, 0)
        lib._dynamo.maybe_mark_dynamic(x, 1)
        lib._dynamo.mark_static(x, 1)
    compiled = kiln.compile(f)
    for rows in (2, 5):
        x = kiln.arange(rows * 3.0).reshape(rows, 3)
        kiln._dynamo.mark_dynamic(x, 0)
        np.testing.assert_array_equal(compiled(x).numpy(), f(x).numpy())
