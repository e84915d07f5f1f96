"""More PyTorch tutorial and recipe scripts (tests/scripts16/*.py), on topics
tests/scripts14 does not cover: torch.func (per-sample gradients, ensembling, neural
tangent kernels), FGSM, char-RNN and word-language-model sampling, DQN, knowledge
distillation, a VAE with torch.distributions, nn.Transformer translation, torch.compile
and torch.export, the saving / loading recipes, views and strides, autograd.functional
and double backward, channels_last and reproducibility, benchmark / profiler /
TensorBoard, weight init, training-loop tricks, dtypes and printing, indexing ops,
custom datasets.

Each script runs unmodified twice, with real torch and with kiln standing in for
``torch``; what they print must agree (see tests/_script_runner.py for the line format).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _script_runner import DEFAULT_TOLERANCE, check_script, run_all, script_names

pytest.importorskip("torch")

SCRIPTS = Path(__file__).resolve().parent / "scripts16"
NAMES = script_names(SCRIPTS)

# (rtol, atol) per script; training runs of many float32 steps drift apart by rounding
TOLERANCE = {
    "dqn_replay": (1e-3, 1e-4),
    "knowledge_distillation": (1e-3, 1e-4),
    "transformer_translation": (1e-3, 1e-4),
    "compile_tutorial": (1e-3, 1e-4),
    "training_loop_tricks": (1e-3, 1e-4),
    "neural_tangent_kernels": (1e-3, 1e-4),
    "word_language_model": (1e-3, 1e-4),
}

# Printed lines (script -> key -> why) known to differ, each a gap in a file this test's
# author does not own; the test requires them to differ (so that a fix is noticed and the
# entry removed) and everything else to agree.
KNOWN_DIFFERENCES: dict[str, dict[str, str]] = {}

# Scripts that kiln cannot run to the end (script -> (text of the error, why)); the test
# requires that failure, so a fix is noticed and the entry removed.
KNOWN_FAILURES: dict[str, tuple[str, str]] = {}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """What every script printed under torch and under kiln (each side run once)."""
    folder = tmp_path_factory.mktemp("scripts16")
    return tuple(run_all(kiln, folder, SCRIPTS, NAMES, threads=1) for kiln in (False, True))


def test_the_tables_name_real_scripts():
    for table in (TOLERANCE, KNOWN_DIFFERENCES, KNOWN_FAILURES):
        assert set(table) <= set(NAMES), set(table) - set(NAMES)
    assert len(NAMES) >= 20


@pytest.mark.parametrize("name", NAMES)
def test_script_agrees_with_torch(name, outputs):
    check_script(
        name,
        outputs,
        KNOWN_DIFFERENCES.get(name, {}),
        TOLERANCE.get(name, DEFAULT_TOLERANCE),
        KNOWN_FAILURES.get(name),
    )


# ------------------------------------------- the fixes these scripts led to, one by one


def test_module_compile_keeps_the_module_and_runs_its_hooks_every_call():
    import copy

    import torch

    import kiln

    def run(lib):
        model = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2))
        with lib.no_grad():
            for i, p in enumerate(model.parameters()):
                p.copy_(lib.linspace(-0.5, 0.5, p.numel()).reshape(p.shape) * (i + 1))
        calls = []
        model.register_forward_hook(lambda mod, args, out: calls.append(out.shape[0]))
        # (PyTorch's inductor would spend seconds compiling; its eager backend has the
        # same module semantics. kiln compiles for real.)
        options = {"backend": "eager"} if lib.__name__ == "torch" else {}
        assert model.compile(**options) is None
        x = lib.linspace(-1, 1, 12).reshape(4, 3)
        opt = lib.optim.SGD(model.parameters(), lr=0.1)
        losses = []
        for _ in range(3):
            opt.zero_grad()
            loss = model(x).pow(2).sum()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        twin = copy.deepcopy(model)
        return type(model).__name__, sorted(model.state_dict()), calls, losses, twin(x)

    got, want = run(kiln), run(torch)
    assert got[:3] == want[:3]
    np.testing.assert_allclose(got[3], want[3], rtol=1e-5)
    np.testing.assert_allclose(got[4].detach().numpy(), want[4].detach().numpy(), rtol=1e-5)


def test_jacrev_of_a_dict_of_parameters_matches_torch():
    import torch

    import kiln

    w = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    x = np.array([0.5, -1.0, 2.0], dtype=np.float32)

    def run(lib):
        params = {"w": lib.tensor(w), "b": lib.tensor([0.1, -0.2])}

        def f(p, x):
            return (x @ p["w"].T + p["b"]).tanh()

        return lib.func.jacrev(f)(params, lib.tensor(x))

    got, want = run(kiln), run(torch)
    assert sorted(got) == sorted(want)
    for k in want:
        np.testing.assert_allclose(got[k].numpy(), want[k].numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("shape,groups", [((4, 2, 3), 2), ((3, 2, 3, 3), 1), ((2, 3, 3, 3, 2), 1)])
def test_init_dirac_matches_torch(shape, groups):
    import torch

    import kiln

    got, want = kiln.empty(*shape), torch.empty(*shape)
    kiln.nn.init.dirac_(got, groups=groups)
    torch.nn.init.dirac_(want, groups=groups)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_init_dirac_and_sparse_reject_what_torch_rejects():
    import kiln

    with pytest.raises(ValueError, match="3, 4, or 5 dimensions"):
        kiln.nn.init.dirac_(kiln.empty(3, 3))
    with pytest.raises(ValueError, match="divisible by groups"):
        kiln.nn.init.dirac_(kiln.empty(3, 2, 3), groups=2)
    with pytest.raises(ValueError, match="2 dimensions"):
        kiln.nn.init.sparse_(kiln.empty(3, 3, 3), 0.5)
    s = kiln.nn.init.sparse_(kiln.empty(10, 4), sparsity=0.25)
    assert (s == 0).sum(0).tolist() == [3, 3, 3, 3]  # ceil(0.25 * 10) per column


def test_module_to_memory_format_and_incompatible_keys_repr_match_torch():
    import torch

    import kiln

    def run(lib):
        model = lib.nn.Sequential(lib.nn.Conv2d(3, 4, 3), lib.nn.Flatten(), lib.nn.Linear(4, 2))
        model.to(memory_format=lib.channels_last)
        keys = lib.nn.Linear(2, 2).load_state_dict({"weight": lib.zeros(2, 2)}, strict=False)
        return model[0].weight.stride(), model[2].weight.stride(), repr(keys)

    assert run(kiln) == run(torch)


def test_multivariate_normal_independent_one_hot_match_torch():
    import torch

    import kiln

    a = np.array([[[2.0, 0.3], [0.3, 1.0]], [[1.0, -0.2], [-0.2, 0.5]]])
    loc = np.array([[0.5, -1.0], [0.0, 2.0]])
    value = np.array([[[0.1, 0.2], [1.0, 1.5]], [[-0.3, 0.0], [0.2, 2.2]], [[0, 0], [1, 1]]])

    def run(lib):
        D = lib.distributions
        t = lambda x: lib.tensor(np.asarray(x), dtype=lib.float64)  # noqa: E731
        out = {}
        for kw in ("covariance_matrix", "precision_matrix", "scale_tril"):
            m = a if kw != "scale_tril" else np.linalg.cholesky(a)
            mvn = D.MultivariateNormal(t(loc), **{kw: t(m)})
            out[kw] = (mvn.log_prob(t(value)), mvn.entropy(), mvn.variance, mvn.scale_tril)
        mvn = D.MultivariateNormal(t(loc[0]), covariance_matrix=t(a))  # loc broadcast
        out["shapes"] = (tuple(mvn.batch_shape), tuple(mvn.event_shape))
        out["rsample"] = tuple(mvn.rsample((3,)).shape)
        base = D.Normal(t(loc), t(np.abs(loc) + 0.5))
        ind = D.Independent(base, 1)
        other = D.Independent(D.Normal(t(loc * 0), t(np.ones_like(loc))), 1)
        out["ind"] = (ind.log_prob(t(value)), ind.entropy(), D.kl_divergence(ind, other))
        out["ind shapes"] = (tuple(ind.batch_shape), tuple(ind.event_shape))
        oh = D.OneHotCategorical(logits=t([[1.0, 2.0, 0.5], [0.0, 0.0, 0.0]]))
        onehots = t([[0, 1, 0], [1, 0, 0]])
        out["onehot"] = (oh.log_prob(onehots), oh.entropy(), oh.mode, oh.variance)
        out["onehot sample"] = tuple(oh.sample((4,)).shape)
        return out

    got, want = run(kiln), run(torch)
    for key in want:
        if key in ("shapes", "rsample", "ind shapes", "onehot sample"):
            assert got[key] == want[key], key
            continue
        for g, w in zip(got[key], want[key], strict=True):
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-10, atol=1e-12, err_msg=key)


def test_distribution_constructors_reject_what_torch_rejects():
    import kiln

    D = kiln.distributions
    with pytest.raises(ValueError, match="Exactly one of"):
        D.MultivariateNormal(kiln.zeros(2))
    with pytest.raises(ValueError, match="at least one-dimensional"):
        D.MultivariateNormal(kiln.tensor(0.0), covariance_matrix=kiln.eye(1))
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims"):
        D.Independent(D.Normal(kiln.zeros(3), kiln.ones(3)), 2)
