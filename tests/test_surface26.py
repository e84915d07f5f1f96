"""The parts of PyTorch's namespace that real scripts import (issue 14): kiln.multiprocessing
(Process, Queue, Pool, spawn; shared tensors and the Hogwild recipe), Tensor.share_memory_,
pin_memory and friends, set_default_tensor_type, the autocast controls, the has_* flags,
binomial, and the deprecated aliases (nn.init.normal, clip_grad_norm, ...). PyTorch is the
oracle throughout.

(torch is imported inside the tests, not at module level: the processes that
``kiln.multiprocessing.spawn`` starts import this module to find their function.)
"""

import multiprocessing as std_mp
import os
import warnings

import numpy as np
import pytest

import kiln
import kiln.multiprocessing as mp


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _warnings_of(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn()
    return result, [(w.category, str(w.message)) for w in caught]


# ------------------------------------------------------------------ process targets
# (module level: a spawned process imports this module to find them)


def _add_into(rank, shared, amount, model=None):
    shared[rank] += amount
    if model is not None and rank == 0:  # Hogwild under "spawn": three steps of SGD
        optimizer = kiln.optim.SGD(model.parameters(), lr=0.5)
        for _ in range(3):
            optimizer.zero_grad()
            model(kiln.ones(2, 4)).sum().backward()
            optimizer.step()


def _fail_on_one(rank, shared):
    shared[rank] = 1.0
    if rank == 1:
        raise ValueError("rank 1 could not go on")


def _exit_three(rank):
    os._exit(3)


def _echo(queue_in, queue_out):
    shared, plain, param = queue_in.get(), queue_in.get(), queue_in.get()
    shared.add_(10)  # seen by the sender: the memory is shared
    plain.add_(10)  # a copy: the sender's tensor stays as it was
    queue_out.put((plain.sum().item(), type(param).__name__, param.requires_grad))


def _square(t):
    return t * t


class _Net(kiln.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = kiln.nn.Linear(4, 8)
        self.fc2 = kiln.nn.Linear(8, 3)

    def forward(self, x):
        return kiln.nn.functional.log_softmax(self.fc2(kiln.relu(self.fc1(x))), dim=1)


def _hogwild_train(rank, model, data, target, lib):
    """The Hogwild example's ``train``: an optimizer of its own over the shared model."""
    F = lib.nn.functional
    optimizer = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    for i in range(rank, len(data), 2):
        optimizer.zero_grad()
        F.nll_loss(model(data[i]), target[i]).backward()
        optimizer.step()


# ------------------------------------------------------------------ multiprocessing


def _torch_net(torch, net):
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    with torch.no_grad():
        for mine, theirs in zip(net.parameters(), model.parameters()):
            theirs.copy_(torch.from_numpy(mine.detach().numpy().copy()))
    return lambda x: torch.nn.functional.log_softmax(model(x), dim=1), model


def test_hogwild_example_updates_the_parents_model_as_torch(torch):
    # The Hogwild recipe: model.share_memory(), then processes (forked) train it. Run one
    # after the other, the result is deterministic: it must equal torch's same training.
    kiln.manual_seed(0)
    net = _Net()
    net.share_memory()
    assert all(p.is_shared() for p in net.parameters())
    rng = np.random.default_rng(0)
    data = rng.standard_normal((6, 5, 4)).astype(np.float32)
    target = rng.integers(0, 3, (6, 5))
    forward, reference = _torch_net(torch, net)
    weight = net.fc1.weight
    for rank in range(2):
        ctx = mp.get_context("fork")
        p = ctx.Process(
            target=_hogwild_train,
            args=(rank, net, kiln.tensor(data), kiln.tensor(target), kiln),
        )
        p.start()
        p.join()
        assert p.exitcode == 0
        optimizer = torch.optim.SGD(reference.parameters(), lr=0.1, momentum=0.5)
        for i in range(rank, len(data), 2):
            optimizer.zero_grad()
            x, y = torch.from_numpy(data[i]), torch.from_numpy(target[i])
            torch.nn.functional.nll_loss(forward(x), y).backward()
            optimizer.step()
    assert net.fc1.weight is weight  # the same Parameter objects, updated in place
    for mine, theirs in zip(net.parameters(), reference.parameters()):
        np.testing.assert_allclose(mine.detach().numpy(), theirs.detach().numpy(), atol=1e-5)


def test_hogwild_concurrent_processes_train_the_shared_model():
    kiln.manual_seed(1)
    net = _Net()
    net.share_memory()
    before = [p.detach().clone() for p in net.parameters()]
    data, target = kiln.randn(8, 5, 4), kiln.randint(0, 3, (8, 5))
    loss_before = kiln.nn.functional.nll_loss(net(data[0]), target[0]).item()
    processes = [
        mp.Process(target=_hogwild_train, args=(r, net, data, target, kiln)) for r in (0, 1)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    assert [p.exitcode for p in processes] == [0, 0]
    assert all((p - b).abs().sum().item() > 0 for p, b in zip(net.parameters(), before))
    assert kiln.nn.functional.nll_loss(net(data[0]), target[0]).item() < loss_before


def test_queue_sends_values_and_shares_shared_tensors():
    ctx = mp.get_context("fork")
    queue_in, queue_out = ctx.Queue(), ctx.Queue()
    shared = kiln.arange(3.0).share_memory_()
    plain = kiln.ones(2, 2)
    param = kiln.nn.Parameter(kiln.zeros(2))
    worker = ctx.Process(target=_echo, args=(queue_in, queue_out))
    worker.start()
    for t in (shared, plain, param):
        queue_in.put(t)
    total, kind, requires_grad = queue_out.get(timeout=60)
    worker.join()
    assert total == 4 * 11.0  # the values arrived
    assert (kind, requires_grad) == ("Parameter", True)
    assert shared.tolist() == [10.0, 11.0, 12.0]
    assert plain.tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_spawn_runs_fn_with_rank_and_shares_memory_by_descriptor():
    # the "spawn" start method: the shared tensor travels as a file descriptor
    shared = kiln.zeros(2).share_memory_()
    model = kiln.nn.Linear(4, 1)
    model.share_memory()
    before = model.weight.detach().clone()
    assert mp.spawn(_add_into, args=(shared, 5.0, model), nprocs=2) is None
    assert shared.tolist() == [5.0, 5.0]
    # (one process trains, so that no update races another: the test stays deterministic)
    # 3 steps of lr 0.5 on a gradient of 2 (the batch of two rows of ones)
    change = (model.weight - before).detach().numpy()
    np.testing.assert_allclose(change, np.full((1, 4), -3.0), atol=1e-6)


def test_spawn_reraises_a_childs_exception_with_its_traceback():
    shared = kiln.zeros(2).share_memory_()
    with pytest.raises(mp.ProcessRaisedException) as info:
        mp.start_processes(_fail_on_one, args=(shared,), nprocs=2, start_method="fork")
    message = str(info.value)
    assert "-- Process 1 terminated with the following error:" in message
    assert "ValueError: rank 1 could not go on" in message
    assert "_fail_on_one" in message  # the child's traceback
    assert info.value.error_index == 1
    assert shared[1].item() == 1.0


def test_spawn_reports_an_exit_code_and_join_false_gives_the_context():
    context = mp.start_processes(_exit_three, nprocs=1, join=False, start_method="fork")
    assert isinstance(context, mp.ProcessContext) and len(context.pids()) == 1
    with pytest.raises(mp.ProcessExitedException, match="process 0 terminated with exit code 3"):
        while not context.join():
            pass


def test_the_standard_library_surface(torch):
    import torch.multiprocessing as tmp

    for name in ("Process", "Queue", "Pool", "get_context", "set_start_method", "cpu_count"):
        assert hasattr(tmp, name) and hasattr(mp, name)
    assert mp.cpu_count() == std_mp.cpu_count()
    assert mp.get_start_method() == tmp.get_start_method()
    assert mp.get_sharing_strategy() == "file_descriptor"
    with mp.get_context("fork").Pool(2) as pool:
        squares = pool.map(_square, [kiln.tensor([1.0, 2.0]), kiln.tensor([3.0])])
    assert [s.tolist() for s in squares] == [[1.0, 4.0], [9.0]]


# ------------------------------------------------------------------ Tensor methods


def test_share_memory_keeps_values_and_views_share(torch):
    t = kiln.arange(6.0).reshape(2, 3)
    assert not t.is_shared() and not torch.zeros(1).is_shared()
    assert t.share_memory_() is t and t.is_shared()
    assert t.tolist() == torch.arange(6.0).reshape(2, 3).share_memory_().tolist()
    view = t[1]
    view.add_(1)
    assert view.is_shared() and t.tolist() == [[0.0, 1.0, 2.0], [4.0, 5.0, 6.0]]
    recorded = (kiln.ones(2, 2, requires_grad=True) * 1)[0]
    with pytest.raises(RuntimeError, match="share the base tensor first"):
        recorded.share_memory_()


def test_pin_memory_is_pinned_as_a_cpu_only_torch(torch):
    with pytest.raises(RuntimeError) as theirs:
        torch.zeros(2).pin_memory()
    with pytest.raises(RuntimeError) as mine:
        kiln.zeros(2).pin_memory()
    assert str(mine.value) == str(theirs.value)
    assert kiln.zeros(2).is_pinned() is torch.zeros(2).is_pinned() is False


def test_dataloader_pin_memory_warns_and_gives_the_same_batches(torch):
    dataset = kiln.utils.data.TensorDataset(kiln.arange(6.0))
    loader = kiln.utils.data.DataLoader(dataset, batch_size=4, pin_memory=True)
    batches, caught = _warnings_of(lambda: [b[0].tolist() for b in loader])
    tdataset = torch.utils.data.TensorDataset(torch.arange(6.0))
    tloader = torch.utils.data.DataLoader(tdataset, batch_size=4, pin_memory=True)
    theirs, tcaught = _warnings_of(lambda: [b[0].tolist() for b in tloader])
    assert batches == theirs
    assert [c for c in caught if "pin_memory" in c[1]] == [
        c for c in tcaught if "pin_memory" in c[1]
    ]


def test_as_subclass_output_nr_name(torch):
    a = kiln.ones(2, requires_grad=True) * 2
    p = a.as_subclass(kiln.nn.Parameter)
    tp = (torch.ones(2, requires_grad=True) * 2).as_subclass(torch.nn.Parameter)
    assert type(p) is kiln.nn.Parameter and p.requires_grad == tp.requires_grad
    assert p.tolist() == tp.tolist()
    with pytest.raises(TypeError):
        a.as_subclass(int)
    assert kiln.ones(2).output_nr == torch.ones(2).output_nr == 0
    b, tb = kiln.randn(2, 3, requires_grad=True), torch.randn(2, 3, requires_grad=True)
    assert (b * 2).output_nr == (tb * 2).output_nr
    assert b.max(1)[0].output_nr == tb.max(1)[0].output_nr
    assert [t.output_nr for t in tb.unbind(0)] == [0, 1]
    with pytest.raises(NotImplementedError, match="UnbindBackward0"):
        _ = b.unbind(0)[1].output_nr  # (never a silent 0 where torch says 1)
    assert kiln.ones(2).name is torch.ones(2).name is None


def test_set_shares_a_tensor_or_a_storage_as_torch(torch):
    y, ty = kiln.arange(6.0).reshape(2, 3), torch.arange(6.0).reshape(2, 3)
    z, tz = kiln.zeros(1), torch.zeros(1)
    assert z.set_(y) is z
    tz.set_(ty)
    y[0, 0], ty[0, 0] = 9.0, 9.0
    assert z.tolist() == tz.tolist() and z.data_ptr() == y.data_ptr()
    z, tz = kiln.zeros(1), torch.zeros(1)
    z.set_(y.untyped_storage(), 1, (2, 2), (1, 1))
    tz.set_(ty.untyped_storage(), 1, (2, 2), (1, 1))
    assert z.tolist() == tz.tolist()
    assert kiln.zeros(3).set_().shape == torch.zeros(3).set_().shape
    # a view set_ to other memory no longer writes into its old base
    b, tb = (
        kiln.zeros(2, 3, requires_grad=True).clone(),
        torch.zeros(2, 3, requires_grad=True).clone(),
    )
    x, tx = b[0], tb[0]
    x.set_(kiln.ones(3)).add_(1)
    tx.set_(torch.ones(3)).add_(1)
    assert b.tolist() == tb.tolist() and x.tolist() == tx.tolist()
    with pytest.raises(RuntimeError, match="Could not set tensor of type"):
        kiln.zeros(1).set_(kiln.zeros(2, dtype=kiln.float64))
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        kiln.zeros(2, requires_grad=True).set_(kiln.zeros(3))
    with pytest.raises(RuntimeError, match="needs 7 elements"):
        kiln.zeros(1).set_(y.untyped_storage(), 1, (2, 3))


# ------------------------------------------------------------------ top-level names


def test_set_default_tensor_type_forms(torch):
    warned = []
    for form in ("DoubleTensor", "torch.DoubleTensor", "FloatTensor", "torch.FloatTensor"):
        arg_k = getattr(kiln, form) if "." not in form else form
        arg_t = getattr(torch, form) if "." not in form else form
        try:
            _, caught = _warnings_of(lambda a=arg_k: kiln.set_default_tensor_type(a))
            _, tcaught = _warnings_of(lambda a=arg_t: torch.set_default_tensor_type(a))
            assert kiln.get_default_dtype().name == str(torch.get_default_dtype()).split(".")[1]
            assert kiln.tensor([1.5]).dtype.name == str(torch.tensor([1.5]).dtype).split(".")[1]
            # (both warn once a process: the first call here may not be the first)
            assert {c[0] for c in caught + tcaught} <= {UserWarning}
            warned += [c[1] for c in caught]
        finally:
            kiln.set_default_dtype(kiln.float32)
            torch.set_default_dtype(torch.float32)
    for bad_k, bad_t in [(kiln.LongTensor, torch.LongTensor), (kiln.float64, torch.float64)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(TypeError):
                torch.set_default_tensor_type(bad_t)
            with pytest.raises(TypeError):
                kiln.set_default_tensor_type(bad_k)
    assert kiln.get_default_dtype() is kiln.float32
    assert len(warned) <= 1 and all("set_default_dtype()" in w for w in warned)


def test_autocast_controls_as_torch(torch):
    def name(dtype):
        return str(dtype).split(".")[1]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert name(kiln.get_autocast_cpu_dtype()) == name(torch.get_autocast_cpu_dtype())
        assert name(kiln.get_autocast_gpu_dtype()) == name(torch.get_autocast_gpu_dtype())
        assert kiln.is_autocast_cpu_enabled() is torch.is_autocast_cpu_enabled() is False
        _, caught = _warnings_of(kiln.is_autocast_cpu_enabled)
        _, tcaught = _warnings_of(torch.is_autocast_cpu_enabled)
        assert [c[0] for c in caught] == [c[0] for c in tcaught] == [DeprecationWarning]
    a, ta = kiln.ones(2, 2), torch.ones(2, 2)
    try:
        for lib in (kiln, torch):
            lib.set_autocast_dtype("cpu", lib.float16)
            lib.set_autocast_enabled("cpu", True)
        assert kiln.is_autocast_enabled("cpu") and torch.is_autocast_enabled("cpu")
        assert name((a @ a).dtype) == name((ta @ ta).dtype) == "float16"
    finally:
        for lib in (kiln, torch):
            lib.set_autocast_enabled("cpu", False)
            lib.set_autocast_dtype("cpu", lib.bfloat16)
    assert (a @ a).dtype is kiln.float32
    assert kiln.autocast_increment_nesting() == torch.autocast_increment_nesting()
    assert kiln.autocast_decrement_nesting() == torch.autocast_decrement_nesting()
    assert kiln.is_autocast_cache_enabled() is torch.is_autocast_cache_enabled() is True
    kiln.clear_autocast_cache()
    assert kiln.GradScaler is kiln.amp.GradScaler


def test_flags_get_device_newaxis_flush_denormal(torch):
    for flag in ("has_lapack", "has_spectral", "has_mkl", "has_openmp", "has_mkldnn"):
        assert isinstance(getattr(kiln, flag), bool)
    assert kiln.has_lapack and kiln.has_spectral  # kiln.linalg and kiln.fft are there
    assert kiln.get_device(kiln.zeros(1)) == torch.get_device(torch.zeros(1)) == -1
    x, tx = kiln.arange(3.0), torch.arange(3.0)
    assert tuple(x[:, kiln.newaxis].shape) == tuple(tx[:, torch.newaxis].shape)
    assert kiln.set_flush_denormal(False) is True
    tiny = np.float32(1e-40)  # a denormal: kiln keeps it, so it cannot claim to flush
    assert kiln.set_flush_denormal(True) is False
    assert (kiln.tensor([tiny]) * 1).item() != 0.0


def test_binomial(torch):
    count, prob = kiln.tensor([0.0, 5.0, 10.0, 7.0]), kiln.tensor([0.5, 0.0, 1.0, 1.0])
    tcount, tprob = torch.tensor([0.0, 5.0, 10.0, 7.0]), torch.tensor([0.5, 0.0, 1.0, 1.0])
    assert kiln.binomial(count, prob).tolist() == torch.binomial(tcount, tprob).tolist()
    assert kiln.binomial(count, prob).dtype is kiln.float32
    draws = kiln.binomial(kiln.full((20000,), 10.0), kiln.full((20000,), 0.3))
    values = draws.numpy()
    assert np.all(values == np.round(values)) and values.min() >= 0 and values.max() <= 10
    assert abs(values.mean() - 3.0) < 0.05 and abs(values.var() - 2.1) < 0.1
    with pytest.raises(ValueError):
        torch.binomial(torch.tensor([5, 10]), torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError):
        kiln.binomial(kiln.tensor([5, 10]), kiln.tensor([0.5, 0.5]))
    with pytest.raises(RuntimeError):
        kiln.binomial(count, prob.double())


# ------------------------------------------------------------------ deprecated aliases

_INIT_ALIASES = [
    ("uniform", ()),
    ("normal", ()),
    ("constant", (0.3,)),
    ("xavier_uniform", ()),
    ("xavier_normal", ()),
    ("kaiming_uniform", ()),
    ("kaiming_normal", ()),
    ("orthogonal", ()),
    ("eye", ()),
    ("dirac", ()),
    ("sparse", (0.5,)),
]


@pytest.mark.parametrize("name,args", _INIT_ALIASES)
def test_nn_init_aliases_warn_as_torch_and_equal_the_underscore_form(torch, name, args):
    shape = (3, 3, 3) if name == "dirac" else (4, 3)
    kiln.manual_seed(3)
    expected = getattr(kiln.nn.init, name + "_")(kiln.empty(*shape), *args)
    kiln.manual_seed(3)
    got, caught = _warnings_of(lambda: getattr(kiln.nn.init, name)(kiln.empty(*shape), *args))
    _, tcaught = _warnings_of(lambda: getattr(torch.nn.init, name)(torch.empty(*shape), *args))
    assert caught == tcaught  # FutureWarning, same message
    assert got.tolist() == expected.tolist()


def test_clip_grad_norm_deprecated_alias(torch):
    p, tp = kiln.nn.Parameter(kiln.ones(3)), torch.nn.Parameter(torch.ones(3))
    p.grad, tp.grad = kiln.tensor([3.0, 4.0, 0.0]), torch.tensor([3.0, 4.0, 0.0])
    norm, caught = _warnings_of(lambda: kiln.nn.utils.clip_grad_norm([p], 1.0))
    tnorm, tcaught = _warnings_of(lambda: torch.nn.utils.clip_grad_norm([tp], 1.0))
    assert caught == tcaught
    assert norm.item() == pytest.approx(tnorm.item())
    np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-6)


def test_autograd_variable_and_inference_mode(torch):
    with pytest.raises(RuntimeError) as theirs:
        torch.autograd.variable(torch.ones(2))
    with pytest.raises(RuntimeError) as mine:
        kiln.autograd.variable(kiln.ones(2))
    assert str(mine.value) == str(theirs.value)
    assert kiln.autograd.inference_mode is kiln.inference_mode
    with kiln.autograd.inference_mode():
        assert not (kiln.ones(1, requires_grad=True) * 2).requires_grad


@pytest.mark.parametrize("dims", [2, 3])
def test_convert_conv_weight_memory_format(torch, dims):
    fmt = {2: "channels_last", 3: "channels_last_3d"}[dims]
    conv = {2: "Conv2d", 3: "Conv3d"}[dims]
    convert = f"convert_conv{dims}d_weight_memory_format"
    net = kiln.nn.Sequential(getattr(kiln.nn, conv)(2, 4, 3), kiln.nn.ReLU())
    tnet = torch.nn.Sequential(getattr(torch.nn, conv)(2, 4, 3), torch.nn.ReLU())
    weight = net[0].weight
    before = weight.tolist()
    assert getattr(kiln.nn.utils, convert)(net, getattr(kiln, fmt)) is net
    getattr(torch.nn.utils, convert)(tnet, getattr(torch, fmt))
    assert net[0].weight is weight and weight.tolist() == before
    assert weight.stride() == tnet[0].weight.stride()


# ------------------------------------------------------------------ quasirandom


@pytest.mark.parametrize("dimension", [1, 3, 40, 1111])
def test_sobol_engine_is_torchs_sequence(torch, dimension):
    mine, theirs = kiln.quasirandom.SobolEngine(dimension), torch.quasirandom.SobolEngine(dimension)
    np.testing.assert_array_equal(mine.draw(1).numpy(), theirs.draw(1).numpy())
    np.testing.assert_array_equal(mine.draw(6).numpy(), theirs.draw(6).numpy())
    mine.fast_forward(9)
    theirs.fast_forward(9)
    a, b = mine.draw(5, dtype=kiln.float64), theirs.draw(5, dtype=torch.float64)
    assert a.dtype is kiln.float64
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    mine.reset()
    theirs.reset()
    np.testing.assert_array_equal(mine.draw_base2(3).numpy(), theirs.draw_base2(3).numpy())
    with pytest.raises(ValueError, match="power of 2"):
        mine.draw_base2(1)


def test_sobol_engine_scrambles_as_torch(torch):
    # with PyTorch's own random bits (drawn as its _scramble draws them) the points are
    # PyTorch's; with kiln's generator a seeded engine repeats itself
    theirs = torch.quasirandom.SobolEngine(4, scramble=True, seed=7)
    generator = torch.Generator()
    generator.manual_seed(7)
    shift_bits = torch.randint(2, (4, 30), generator=generator)
    ltm = torch.randint(2, (4, 30, 30), generator=generator).tril()
    mine = kiln.quasirandom.SobolEngine(4)
    mine._set_scramble(shift_bits.numpy(), ltm.numpy())
    np.testing.assert_array_equal(mine.draw(20).numpy(), theirs.draw(20).numpy())
    a = kiln.quasirandom.SobolEngine(3, scramble=True, seed=1).draw(16)
    assert a.equal(kiln.quasirandom.SobolEngine(3, scramble=True, seed=1).draw(16))
    assert not a.equal(kiln.quasirandom.SobolEngine(3).draw(16))
    assert 0 <= a.min().item() and a.max().item() < 1
    with pytest.raises(ValueError, match=r"\[1, 1111\]"):
        kiln.quasirandom.SobolEngine(1112)


# ------------------------------------------------------------------ nn.parallel, cuda


def test_nn_parallel_names_as_torch_without_gpus(torch):
    from kiln.nn.parallel import DataParallel, DistributedDataParallel

    assert DistributedDataParallel is kiln.distributed.ddp.DistributedDataParallel
    assert DataParallel is kiln.nn.DataParallel
    net = kiln.nn.Linear(2, 3)
    x = kiln.randn(4, 2)
    assert DataParallel(net)(x).tolist() == net(x).tolist()
    with pytest.raises(RuntimeError) as theirs:
        torch.nn.parallel.data_parallel(torch.nn.Linear(2, 3), torch.ones(4, 2))
    with pytest.raises(RuntimeError) as mine:
        kiln.nn.parallel.data_parallel(net, x)
    assert str(mine.value) == str(theirs.value)


def test_cuda_memory_questions(torch, monkeypatch):
    # without a GPU: PyTorch's CPU-only answers; with one (the CUDA simulator counts), kiln
    # has no count of device memory and says so rather than answer 0
    monkeypatch.setattr(kiln.cuda, "is_available", lambda: False)
    assert not torch.cuda.is_available()
    assert kiln.cuda.empty_cache() is torch.cuda.empty_cache() is None
    for name in ("memory_allocated", "max_memory_allocated", "memory_reserved"):
        assert getattr(kiln.cuda, name)() == getattr(torch.cuda, name)() == 0
    assert kiln.cuda.is_bf16_supported() is torch.cuda.is_bf16_supported() is False
    monkeypatch.setattr(kiln.cuda, "is_available", lambda: True)
    with pytest.raises(NotImplementedError, match="memory_allocated"):
        kiln.cuda.memory_allocated()
