"""kiln.distributions against torch.distributions (float64): values and gradients of
log_prob, entropy, cdf, icdf, moments and kl_divergence; batch/event/sample shapes;
expand; constraints and transforms; argument errors; sampling moments."""

import math

import numpy as np
import pytest

import kiln
import kiln.distributions as KD

torch = pytest.importorskip("torch")
TD = torch.distributions

RNG = np.random.default_rng(17)


def _pos(*shape, lo=0.5, hi=3.0):
    return RNG.uniform(lo, hi, size=shape)


def _real(*shape):
    return RNG.normal(size=shape)


def _prob(*shape):
    return RNG.uniform(0.1, 0.9, size=shape)


# name -> (params as numpy, value sampler taking the torch distribution, differentiable
# params, attributes to compare)
SPECS = {
    "Exponential": (lambda: {"rate": _pos(3)}, ["rate"]),
    "Gamma": (lambda: {"concentration": _pos(2, 3), "rate": _pos(2, 3)}, None),
    "Chi2": (lambda: {"df": _pos(4, lo=1.0, hi=5.0)}, None),
    "Beta": (lambda: {"concentration1": _pos(2, 3), "concentration0": _pos(2, 3)}, None),
    "Dirichlet": (lambda: {"concentration": _pos(2, 4)}, None),
    "Laplace": (lambda: {"loc": _real(3), "scale": _pos(3)}, None),
    "LogNormal": (lambda: {"loc": _real(3), "scale": _pos(3)}, None),
    "Poisson": (lambda: {"rate": _pos(2, 3)}, None),
    "Binomial": (lambda: {"total_count": np.full((2, 3), 7.0), "probs": _prob(2, 3)}, ["probs"]),
    "BinomialLogits": (lambda: {"total_count": np.full((3,), 5.0), "logits": _real(3)}, ["logits"]),
    "Geometric": (lambda: {"probs": _prob(4)}, None),
    "GeometricLogits": (lambda: {"logits": _real(4)}, None),
    "StudentT": (lambda: {"df": _pos(4, lo=0.5, hi=6.0), "loc": _real(4), "scale": _pos(4)}, None),
    "Cauchy": (lambda: {"loc": _real(3), "scale": _pos(3)}, None),
    "Gumbel": (lambda: {"loc": _real(3), "scale": _pos(3)}, None),
    "HalfNormal": (lambda: {"scale": _pos(2, 2)}, None),
    "HalfCauchy": (lambda: {"scale": _pos(2, 2)}, None),
    "LogisticNormal": (lambda: {"loc": _real(2, 3), "scale": _pos(2, 3)}, None),
    "Weibull": (lambda: {"scale": _pos(3), "concentration": _pos(3)}, None),
    "Pareto": (lambda: {"scale": _pos(3), "alpha": _pos(3, lo=2.5, hi=4.0)}, None),
    "NegativeBinomial": (
        lambda: {"total_count": _pos(3, lo=1.0, hi=5.0), "probs": _prob(3)},
        None,
    ),
    "NegativeBinomialLogits": (
        lambda: {"total_count": _pos(3, lo=1.0, hi=5.0), "logits": _real(3)},
        None,
    ),
    "InverseGamma": (lambda: {"concentration": _pos(3, lo=0.5, hi=4.0), "rate": _pos(3)}, None),
    "Kumaraswamy": (lambda: {"concentration1": _pos(3), "concentration0": _pos(3)}, None),
    "FisherSnedecor": (
        lambda: {"df1": _pos(4, lo=1.0, hi=8.0), "df2": _pos(4, lo=1.0, hi=8.0)},
        None,
    ),
    "RelaxedBernoulli": (lambda: {"temperature": np.array(0.7), "probs": _prob(3)}, None),
    "RelaxedBernoulliLogits": (lambda: {"temperature": np.array(1.3), "logits": _real(3)}, None),
    "RelaxedOneHotCategorical": (
        lambda: {"temperature": np.array(0.7), "logits": _real(2, 4)},
        None,
    ),
    "ExpRelaxedCategorical": (lambda: {"temperature": np.array(0.5), "logits": _real(2, 4)}, None),
    "ContinuousBernoulli": (lambda: {"probs": np.array([0.1, 0.4995, 0.5, 0.7, 0.95])}, None),
    "ContinuousBernoulliLogits": (lambda: {"logits": _real(4)}, None),
    "VonMises": (lambda: {"loc": _real(3), "concentration": _pos(3, lo=0.2, hi=8.0)}, None),
    "Normal": (lambda: {"loc": _real(3), "scale": _pos(3)}, None),
    "Uniform": (
        lambda: (lambda low: {"low": low, "high": low + _pos(3, lo=2.0, hi=5.0)})(_real(3)),
        None,
    ),
    "Bernoulli": (lambda: {"probs": _prob(3)}, None),
    "Categorical": (lambda: {"logits": _real(2, 4)}, None),
}


def _cls(name):
    return name.replace("Logits", "")


def _make(name, params, grad=True):
    diff = SPECS.get(name, (None, None))[1] or list(params)
    k_params, t_params = {}, {}
    for key, value in params.items():
        g = grad and key in diff
        k_params[key] = kiln.tensor(value, dtype=kiln.float64, requires_grad=g)
        t_params[key] = torch.tensor(value, dtype=torch.float64, requires_grad=g)
    if name == "ExpRelaxedCategorical":  # not exported at the top level, as in torch
        k_cls = KD.transformed.ExpRelaxedCategorical
        t_cls = TD.relaxed_categorical.ExpRelaxedCategorical
    else:
        k_cls, t_cls = getattr(KD, _cls(name)), getattr(TD, _cls(name))
    return (
        k_cls(**k_params),
        t_cls(**t_params),
        k_params,
        t_params,
    )


def _np(x):
    return np.asarray(x.detach().numpy()) if hasattr(x, "detach") else np.asarray(x)


def _close(k, t, rtol=1e-7, atol=1e-9):
    np.testing.assert_allclose(_np(k), _np(t), rtol=rtol, atol=atol, equal_nan=True)


def _values(td):
    torch.manual_seed(0)
    return td.sample((5,))


@pytest.mark.parametrize("name", list(SPECS))
def test_values_and_gradients_match_torch(name):
    params = SPECS[name][0]()
    kd, td, kp, tp = _make(name, params)
    assert tuple(kd.batch_shape) == tuple(td.batch_shape)
    assert tuple(kd.event_shape) == tuple(td.event_shape)
    value_t = _values(td)
    value_k = kiln.tensor(value_t.numpy(), dtype=kiln.float64)
    outputs = [("log_prob", kd.log_prob(value_k), td.log_prob(value_t))]
    for attr in ("mean", "variance", "stddev", "mode"):
        try:
            t_out = getattr(td, attr)
        except NotImplementedError:
            continue
        outputs.append((attr, getattr(kd, attr), t_out))
    for meth, arg in (("entropy", None), ("cdf", "value"), ("icdf", "prob")):
        t_fn = getattr(td, meth)
        if arg == "prob":
            p = RNG.uniform(0.05, 0.95, size=tuple(td.batch_shape))
            t_arg, k_arg = torch.tensor(p), kiln.tensor(p, dtype=kiln.float64)
        else:
            t_arg, k_arg = value_t, value_k
        try:
            t_out = t_fn() if arg is None else t_fn(t_arg)
        except NotImplementedError:
            continue
        k_fn = getattr(kd, meth)
        outputs.append((meth, k_fn() if arg is None else k_fn(k_arg), t_out))
    for label, k_out, t_out in outputs:
        assert tuple(k_out.shape) == tuple(t_out.shape), label
        # torch's VonMises log I0 / I1 are Abramowitz-Stegun polynomials (~1e-7 relative);
        # kiln's come from its exponentially scaled Bessel functions (~1e-15)
        loose = name == "VonMises"
        _close(k_out, t_out, rtol=1e-6 if loose else 1e-7, atol=1e-7 if loose else 1e-9)
        if not t_out.requires_grad:
            continue
        finite = torch.isfinite(t_out)
        if not bool(finite.any()):
            continue
        w = RNG.normal(size=tuple(t_out.shape)) * finite.numpy()
        try:
            t_grads = torch.autograd.grad(
                (torch.where(finite, t_out, 0) * torch.tensor(w)).sum(),
                [tp[k] for k in tp if tp[k].requires_grad],
                allow_unused=True,
                retain_graph=True,
            )
        except NotImplementedError:  # torch: no derivative of igamma in its first argument
            continue
        k_keys = [k for k in kp if kp[k].requires_grad]
        mask = kiln.tensor(finite.numpy())
        k_loss = (kiln.where(mask, k_out, kiln.zeros_like(k_out)) * kiln.tensor(w)).sum()
        k_grads = kiln.autograd.grad(
            k_loss, [kp[k] for k in k_keys], allow_unused=True, retain_graph=True
        )
        for key, kg, tg in zip(k_keys, k_grads, t_grads, strict=True):
            if tg is None:
                assert kg is None or np.allclose(_np(kg), 0), (label, key)
                continue
            _close(kg, tg, rtol=1e-5 if loose else 1e-6, atol=1e-6 if loose else 1e-8)


@pytest.mark.parametrize("name", list(SPECS))
def test_sample_shapes_and_expand(name):
    params = SPECS[name][0]()
    kd, td, _, _ = _make(name, params, grad=False)
    for sample_shape in ((), (5,), (2, 3)):
        s = kd.sample(sample_shape)
        assert tuple(s.shape) == tuple(td.sample(sample_shape).shape)
        assert s.dtype == kiln.float64 or (name == "Categorical" and s.dtype == kiln.int64)
        if kd.has_rsample:
            assert tuple(kd.rsample(sample_shape).shape) == tuple(s.shape)
    assert kd.has_rsample == td.has_rsample
    new_batch = (2,) + tuple(td.batch_shape)
    ke, te = kd.expand(new_batch), td.expand(new_batch)
    assert tuple(ke.batch_shape) == tuple(te.batch_shape)
    assert tuple(ke.event_shape) == tuple(te.event_shape)
    assert tuple(ke.sample((3,)).shape) == tuple(te.sample((3,)).shape)
    v = te.sample()
    rtol = 1e-6 if name == "VonMises" else 1e-7  # torch's Bessel polynomials, see above
    _close(ke.log_prob(kiln.tensor(v.numpy())), te.log_prob(v), rtol=rtol, atol=1e-7)


MOMENT_CASES = [
    ("Exponential", {"rate": [0.5, 2.0]}),
    ("Gamma", {"concentration": [0.3, 2.5], "rate": [1.0, 3.0]}),
    ("Chi2", {"df": [1.0, 4.0]}),
    ("Beta", {"concentration1": [0.5, 3.0], "concentration0": [2.0, 1.5]}),
    ("Dirichlet", {"concentration": [[0.5, 1.0, 2.0]]}),
    ("Laplace", {"loc": [0.0, 1.0], "scale": [1.0, 0.5]}),
    ("LogNormal", {"loc": [0.0, 0.3], "scale": [0.5, 0.25]}),
    ("Poisson", {"rate": [0.7, 6.0]}),
    ("Binomial", {"total_count": [10.0, 3.0], "probs": [0.3, 0.8]}),
    ("Geometric", {"probs": [0.3, 0.8]}),
    ("StudentT", {"df": [5.0, 9.0], "loc": [0.0, 1.0], "scale": [1.0, 2.0]}),
    ("Gumbel", {"loc": [0.0, 1.0], "scale": [1.0, 2.0]}),
    ("HalfNormal", {"scale": [1.0, 2.0]}),
    ("LogisticNormal", {"loc": [[0.0, 0.5]], "scale": [[1.0, 0.5]]}),
    ("Weibull", {"scale": [1.0, 2.0], "concentration": [0.8, 3.0]}),
    ("Pareto", {"scale": [1.0, 2.0], "alpha": [5.0, 9.0]}),
    ("NegativeBinomial", {"total_count": [3.0, 10.0], "probs": [0.3, 0.6]}),
    ("InverseGamma", {"concentration": [5.0, 8.0], "rate": [1.0, 2.0]}),
    ("Kumaraswamy", {"concentration1": [0.5, 2.0], "concentration0": [1.5, 3.0]}),
    ("FisherSnedecor", {"df1": [5.0, 10.0], "df2": [12.0, 20.0]}),
    ("ContinuousBernoulli", {"probs": [0.2, 0.5, 0.9]}),
    ("VonMises", {"loc": [0.0, 1.0], "concentration": [2.0, 10.0]}),
    (
        "GeneralizedPareto",
        {"loc": [0.0, 1.0, -1.0], "scale": [1.0, 2.0, 0.5], "concentration": [-0.5, 0.0, 0.2]},
    ),
]


@pytest.mark.parametrize(("name", "params"), MOMENT_CASES)
def test_sample_moments(name, params):
    kiln.manual_seed(1234)
    params = {k: np.array(v) for k, v in params.items()}
    kd, td, _, _ = _make(name, params, grad=False)
    n = 40000
    s = _np(kd.sample((n,)))
    if name == "VonMises":  # circular moments: mean direction and 1 - mean resultant length
        z = np.exp(1j * s).mean(0)
        np.testing.assert_allclose(np.angle(z), _np(td.mean), atol=0.02)
        np.testing.assert_allclose(1 - np.abs(z), _np(td.variance), rtol=0.05, atol=2e-3)
        assert np.all((s >= -np.pi) & (s <= np.pi))
        return
    tmean = _np(td.mean) if name != "LogisticNormal" else _np(td.sample((200000,)).mean(0))
    tvar = _np(td.variance) if name != "LogisticNormal" else _np(td.sample((200000,)).var(0))
    se = np.sqrt(tvar / n)
    assert np.all(np.abs(s.mean(0) - tmean) < 6 * se + 1e-3), (s.mean(0), tmean)
    assert np.allclose(s.var(0), tvar, rtol=0.08, atol=2e-3), (s.var(0), tvar)
    assert np.all(_np(td.support.check(torch.tensor(s))))


def test_cauchy_halfcauchy_sample_quantiles():
    kiln.manual_seed(5)
    for kd, td in (
        (KD.Cauchy(kiln.tensor(1.0), kiln.tensor(2.0)), TD.Cauchy(1.0, 2.0)),
        (KD.HalfCauchy(kiln.tensor(2.0)), TD.HalfCauchy(2.0)),
    ):
        s = _np(kd.sample((40000,)))
        for q in (0.25, 0.5, 0.75):
            assert abs(np.quantile(s, q) - td.icdf(torch.tensor(q)).item()) < 0.1


def test_gamma_rsample_implicit_gradient():
    # d E[x] / d concentration = 1 / rate; d E[x] / d rate = -concentration / rate^2
    kiln.manual_seed(7)
    a = kiln.tensor([0.4, 2.0, 7.0], dtype=kiln.float64, requires_grad=True)
    b = kiln.tensor([1.0, 2.0, 0.5], dtype=kiln.float64, requires_grad=True)
    n = 20000
    x = KD.Gamma(a, b).rsample((n,))
    x.sum().backward()
    np.testing.assert_allclose(_np(a.grad) / n, 1 / _np(b), rtol=0.05)
    np.testing.assert_allclose(_np(b.grad) / n, -_np(a) / _np(b) ** 2, rtol=0.05)
    # per-sample: x = F^-1(u; a), so F(x; a) stays put along the gradient direction
    a2 = kiln.tensor([1.5], dtype=kiln.float64, requires_grad=True)
    x = KD.Gamma(a2, 1.0).rsample((50,))
    (g,) = kiln.autograd.grad(x.sum(), [a2])
    xs = _np(x).ravel()
    from scipy import special

    h = 1e-6
    dx_da = -(special.gammainc(1.5 + h, xs) - special.gammainc(1.5 - h, xs)) / (2 * h)
    dx_da /= np.exp(0.5 * np.log(xs) - xs - math.lgamma(1.5))
    np.testing.assert_allclose(_np(g)[0], dx_da.sum(), rtol=1e-5)


def test_beta_dirichlet_rsample_gradient_in_expectation():
    kiln.manual_seed(11)
    c1 = kiln.tensor(2.0, dtype=kiln.float64, requires_grad=True)
    c0 = kiln.tensor(3.0, dtype=kiln.float64, requires_grad=True)
    n = 40000
    KD.Beta(c1, c0).rsample((n,)).sum().backward()
    # E[x] = c1 / (c1 + c0)
    np.testing.assert_allclose(c1.grad.item() / n, 3.0 / 25.0, rtol=0.05)
    np.testing.assert_allclose(c0.grad.item() / n, -2.0 / 25.0, rtol=0.05)
    c = kiln.tensor([1.0, 2.0, 3.0], dtype=kiln.float64, requires_grad=True)
    (KD.Dirichlet(c).rsample((n,))[..., 0]).sum().backward()
    np.testing.assert_allclose(_np(c.grad) / n, [5 / 36, -1 / 36, -1 / 36], rtol=0.08, atol=3e-3)


def test_reparameterized_rsample_gradients_flow():
    for make in (
        lambda p: KD.Exponential(p),
        lambda p: KD.Laplace(p, p),
        lambda p: KD.LogNormal(p, p),
        lambda p: KD.StudentT(p + 2, p, p),
        lambda p: KD.Cauchy(p, p),
        lambda p: KD.Gumbel(p, p),
        lambda p: KD.HalfNormal(p),
        lambda p: KD.Chi2(p),
    ):
        p = kiln.tensor([1.0, 2.0], dtype=kiln.float64, requires_grad=True)
        make(p).rsample((4,)).sum().backward()
        assert p.grad is not None and np.all(np.isfinite(_np(p.grad)))


KL_CASES = [
    ("Normal", "Normal"),
    ("Categorical", "Categorical"),
    ("Bernoulli", "Bernoulli"),
    ("Beta", "Beta"),
    ("Gamma", "Gamma"),
    ("Exponential", "Exponential"),
    ("Dirichlet", "Dirichlet"),
    ("Laplace", "Laplace"),
    ("Poisson", "Poisson"),
    ("Geometric", "Geometric"),
    ("Binomial", "Binomial"),
    ("LogNormal", "LogNormal"),
    ("Gumbel", "Gumbel"),
    ("HalfNormal", "HalfNormal"),
    ("Cauchy", "Cauchy"),
    ("Pareto", "Pareto"),
    ("Exponential", "Gamma"),
    ("Gamma", "Exponential"),
    ("Uniform", "Normal"),
    ("Laplace", "Normal"),
    ("Normal", "Gumbel"),
    ("Exponential", "Normal"),
    ("Gamma", "Normal"),
    ("Bernoulli", "Poisson"),
]


@pytest.mark.parametrize(("p_name", "q_name"), KL_CASES)
def test_kl_divergence_matches_torch(p_name, q_name):
    kp_, tp_, kpp, tpp = _make(p_name, SPECS[p_name][0]())
    kq_, tq_, kqp, tqp = _make(q_name, SPECS[q_name][0]())
    k_kl = KD.kl_divergence(kp_, kq_)
    t_kl = TD.kl_divergence(tp_, tq_)
    _close(k_kl, t_kl)
    k_leaves = [v for v in list(kpp.values()) + list(kqp.values()) if v.requires_grad]
    t_leaves = [v for v in list(tpp.values()) + list(tqp.values()) if v.requires_grad]
    w = RNG.normal(size=tuple(t_kl.shape))
    tg = torch.autograd.grad((t_kl * torch.tensor(w)).sum(), t_leaves, allow_unused=True)
    kg = kiln.autograd.grad((k_kl * kiln.tensor(w)).sum(), k_leaves, allow_unused=True)
    for a, b in zip(kg, tg, strict=True):
        if b is None:
            continue
        _close(a, b, rtol=1e-6, atol=1e-8)


def test_kl_uniform_mvn_independent():
    lo, hi = _real(3) - 2, _real(3) + 2
    k = KD.kl_divergence(
        KD.Uniform(kiln.tensor(lo), kiln.tensor(hi)),
        KD.Uniform(kiln.tensor(lo - 1), kiln.tensor(hi + 0.5)),
    )
    t = TD.kl_divergence(
        TD.Uniform(torch.tensor(lo), torch.tensor(hi)),
        TD.Uniform(torch.tensor(lo - 1), torch.tensor(hi + 0.5)),
    )
    _close(k, t)
    a = RNG.normal(size=(2, 3, 3))
    cov = a @ a.transpose(0, 2, 1) + np.eye(3)
    b = RNG.normal(size=(3, 3))
    cov2 = b @ b.T + np.eye(3)
    loc, loc2 = _real(2, 3), _real(3)
    k = KD.kl_divergence(
        KD.MultivariateNormal(kiln.tensor(loc), covariance_matrix=kiln.tensor(cov)),
        KD.MultivariateNormal(kiln.tensor(loc2), covariance_matrix=kiln.tensor(cov2)),
    )
    t = TD.kl_divergence(
        TD.MultivariateNormal(torch.tensor(loc), covariance_matrix=torch.tensor(cov)),
        TD.MultivariateNormal(torch.tensor(loc2), covariance_matrix=torch.tensor(cov2)),
    )
    _close(k, t)
    s1, s2 = _pos(2, 3), _pos(2, 3)
    k = KD.kl_divergence(
        KD.Independent(KD.Gamma(kiln.tensor(s1), kiln.tensor(s2)), 1),
        KD.Independent(KD.Gamma(kiln.tensor(s2), kiln.tensor(s1)), 1),
    )
    t = TD.kl_divergence(
        TD.Independent(TD.Gamma(torch.tensor(s1), torch.tensor(s2)), 1),
        TD.Independent(TD.Gamma(torch.tensor(s2), torch.tensor(s1)), 1),
    )
    assert tuple(k.shape) == (2,)
    _close(k, t)
    c1, c0 = _pos(3), _pos(3)
    low, high = np.array([-0.5, 0.0, 0.2]), np.array([1.5, 1.0, 1.0])
    k = KD.kl_divergence(
        KD.Beta(kiln.tensor(c1), kiln.tensor(c0)),
        KD.Uniform(kiln.tensor(low), kiln.tensor(high)),
    )
    t = TD.kl_divergence(
        TD.Beta(torch.tensor(c1), torch.tensor(c0)),
        TD.Uniform(torch.tensor(low), torch.tensor(high)),
    )
    assert math.isinf(k[2].item())
    _close(k, t)
    with pytest.raises(NotImplementedError):
        KD.kl_divergence(KD.Normal(0.0, 1.0), KD.Gamma(1.0, 1.0))


def test_register_kl_most_specific_wins():
    class MyNormal(KD.Normal):
        pass

    @KD.register_kl(MyNormal, KD.Normal)
    def _kl(p, q):
        return kiln.tensor(123.0)

    assert KD.kl_divergence(MyNormal(0.0, 1.0), KD.Normal(0.0, 2.0)).item() == 123.0
    ref = KD.kl_divergence(KD.Normal(0.0, 1.0), KD.Normal(0.0, 2.0)).item()
    assert ref == pytest.approx(TD.kl_divergence(TD.Normal(0.0, 1.0), TD.Normal(0.0, 2.0)).item())
    with pytest.raises(TypeError):
        KD.register_kl(int, KD.Normal)


def test_mixture_same_family():
    logits = _real(2, 3)
    loc, scale = _real(2, 3, 4), _pos(2, 3, 4)
    kmix = KD.MixtureSameFamily(
        KD.Categorical(logits=kiln.tensor(logits, requires_grad=True)),
        KD.Independent(KD.Normal(kiln.tensor(loc, requires_grad=True), kiln.tensor(scale)), 1),
    )
    tlogits = torch.tensor(logits, requires_grad=True)
    tloc = torch.tensor(loc, requires_grad=True)
    tmix = TD.MixtureSameFamily(
        TD.Categorical(logits=tlogits),
        TD.Independent(TD.Normal(tloc, torch.tensor(scale)), 1),
    )
    assert tuple(kmix.batch_shape) == (2,) and tuple(kmix.event_shape) == (4,)
    v = tmix.sample((5,))
    k_lp, t_lp = kmix.log_prob(kiln.tensor(v.numpy())), tmix.log_prob(v)
    _close(k_lp, t_lp)
    _close(kmix.mean, tmix.mean)
    _close(kmix.variance, tmix.variance)
    assert tuple(kmix.sample((7,)).shape) == (7, 2, 4)
    t_lp.sum().backward()
    kl_leaf = kmix.mixture_distribution.logits
    del kl_leaf
    # scalar components with cdf
    kmix1 = KD.MixtureSameFamily(
        KD.Categorical(probs=kiln.tensor([0.2, 0.8])),
        KD.Normal(kiln.tensor([-1.0, 2.0]), kiln.tensor([0.5, 1.0])),
    )
    tmix1 = TD.MixtureSameFamily(
        TD.Categorical(probs=torch.tensor([0.2, 0.8])),
        TD.Normal(torch.tensor([-1.0, 2.0]), torch.tensor([0.5, 1.0])),
    )
    x = torch.linspace(-3, 4, 9)
    _close(kmix1.cdf(kiln.tensor(x.numpy())), tmix1.cdf(x), rtol=1e-5)
    kiln.manual_seed(3)
    s = _np(kmix1.sample((40000,)))
    assert abs(s.mean() - tmix1.mean.item()) < 0.05
    with pytest.raises(ValueError):
        KD.MixtureSameFamily(KD.Normal(0.0, 1.0), KD.Normal(kiln.zeros(2), kiln.ones(2)))
    with pytest.raises(ValueError):
        KD.MixtureSameFamily(
            KD.Categorical(probs=kiln.ones(3) / 3), KD.Normal(kiln.zeros(2), kiln.ones(2))
        )


def test_mixture_log_prob_gradient():
    logits, loc = _real(3), _real(3)
    kl, kloc = kiln.tensor(logits, requires_grad=True), kiln.tensor(loc, requires_grad=True)
    tl, tloc = torch.tensor(logits, requires_grad=True), torch.tensor(loc, requires_grad=True)
    x = _real(6)
    k = KD.MixtureSameFamily(KD.Categorical(logits=kl), KD.Normal(kloc, 1.0)).log_prob(
        kiln.tensor(x)
    )
    t = TD.MixtureSameFamily(TD.Categorical(logits=tl), TD.Normal(tloc, 1.0)).log_prob(
        torch.tensor(x)
    )
    _close(k, t)
    k.sum().backward()
    t.sum().backward()
    _close(kl.grad, tl.grad)
    _close(kloc.grad, tloc.grad)


TRANSFORMS = [
    ("ExpTransform", (), lambda: _real(3, 2)),
    ("SigmoidTransform", (), lambda: _real(3, 2)),
    ("TanhTransform", (), lambda: _real(3, 2)),
    ("AffineTransform", (1.5, -2.0), lambda: _real(3, 2)),
    ("AffineTransform", "tensor", lambda: _real(3, 2)),
    ("SoftmaxTransform", (), lambda: _real(3, 4)),
    ("StickBreakingTransform", (), lambda: _real(3, 4)),
    ("PowerTransform", (2.5,), lambda: _pos(3, 2)),
    ("AbsTransform", (), lambda: _real(3, 2)),
    ("SoftplusTransform", (), lambda: _real(3, 2)),
    ("LowerCholeskyTransform", (), lambda: _real(2, 3, 3)),
    ("ReshapeTransform", ((2, 3), (6,)), lambda: _real(4, 2, 3)),
]


@pytest.mark.parametrize(("name", "args", "make_x"), TRANSFORMS)
def test_transforms_match_torch(name, args, make_x):
    if args == "tensor":
        loc, scale = _real(2), _real(2)
        kt = KD.transforms.AffineTransform(kiln.tensor(loc), kiln.tensor(scale))
        tt = TD.transforms.AffineTransform(torch.tensor(loc), torch.tensor(scale))
        args = ()
    else:
        kt = getattr(KD.transforms, name)(*args)
        tt = getattr(TD.transforms, name)(
            *[torch.tensor(a) if name == "PowerTransform" else a for a in args]
        )
    x = make_x()
    kx = kiln.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    ky, ty = kt(kx), tt(tx)
    _close(ky, ty)
    if name not in ("SoftmaxTransform", "AbsTransform", "LowerCholeskyTransform"):
        _close(kt.inv(kiln.tensor(ty.detach().numpy())), tt.inv(ty.detach()), rtol=1e-6)
        kj, tj = kt.log_abs_det_jacobian(kx, ky), tt.log_abs_det_jacobian(tx, ty)
        _close(kj, tj, rtol=1e-6)
        if tj.requires_grad:
            kj.sum().backward()
            tj.sum().backward()
            _close(kx.grad, tx.grad, rtol=1e-6)
    assert kt.domain.event_dim == tt.domain.event_dim
    assert kt.codomain.event_dim == tt.codomain.event_dim
    assert kt.bijective == tt.bijective
    assert tuple(kt.forward_shape(x.shape)) == tuple(tt.forward_shape(torch.Size(x.shape)))


def test_compose_transform_and_transformed_distribution():
    loc, scale = _real(3), _pos(3)
    kt = [KD.transforms.AffineTransform(0.5, 2.0), KD.transforms.SigmoidTransform()]
    tt = [TD.transforms.AffineTransform(0.5, 2.0), TD.transforms.SigmoidTransform()]
    kloc = kiln.tensor(loc, requires_grad=True)
    tloc = torch.tensor(loc, requires_grad=True)
    kd = KD.TransformedDistribution(KD.Normal(kloc, kiln.tensor(scale)), kt)
    td = TD.TransformedDistribution(TD.Normal(tloc, torch.tensor(scale)), tt)
    v = td.sample((4,))
    k, t = kd.log_prob(kiln.tensor(v.numpy())), td.log_prob(v)
    _close(k, t, rtol=1e-6)
    k.sum().backward()
    t.sum().backward()
    _close(kloc.grad, tloc.grad, rtol=1e-6)
    _close(kd.cdf(kiln.tensor(v.numpy())), td.cdf(v))
    p = torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)
    _close(kd.icdf(kiln.tensor(p.numpy())), td.icdf(p))
    # decreasing transforms: cdf is monotonized
    kd2 = KD.TransformedDistribution(KD.Normal(0.0, 1.0), KD.transforms.AffineTransform(1.0, -2.0))
    td2 = TD.TransformedDistribution(TD.Normal(0.0, 1.0), TD.transforms.AffineTransform(1.0, -2.0))
    x = torch.tensor([-1.0, 0.0, 2.0])
    _close(kd2.cdf(kiln.tensor(x.numpy())), td2.cdf(x), rtol=1e-6)
    comp = KD.transforms.ComposeTransform(kt)
    tcomp = TD.transforms.ComposeTransform(tt)
    xx = _real(3)
    _close(comp(kiln.tensor(xx)), tcomp(torch.tensor(xx)))
    _close(
        comp.log_abs_det_jacobian(kiln.tensor(xx), comp(kiln.tensor(xx))),
        tcomp.log_abs_det_jacobian(torch.tensor(xx), tcomp(torch.tensor(xx))),
    )
    _close(comp.inv(comp(kiln.tensor(xx))), xx)
    # tanh with cache inverts exactly even where tanh rounds to 1
    tanh = KD.transforms.TanhTransform(cache_size=1)
    big = kiln.tensor([30.0])
    assert tanh.inv(tanh(big)) is big
    # event dims: a SoftmaxTransform / StickBreaking make a vector event
    kd3 = KD.TransformedDistribution(
        KD.Normal(kiln.zeros(3, 4), kiln.ones(3, 4)), KD.transforms.StickBreakingTransform()
    )
    assert tuple(kd3.batch_shape) == (3,) and tuple(kd3.event_shape) == (5,)
    assert tuple(kd3.sample((2,)).shape) == (2, 3, 5)


def test_constraints_match_torch():
    C, TC = KD.constraints, TD.constraints
    x = np.array([-1.0, 0.0, 0.5, 1.0, 2.0, float("nan")])
    cases = [
        (C.real, TC.real),
        (C.positive, TC.positive),
        (C.nonnegative, TC.nonnegative),
        (C.unit_interval, TC.unit_interval),
        (C.boolean, TC.boolean),
        (C.nonnegative_integer, TC.nonnegative_integer),
        (C.positive_integer, TC.positive_integer),
        (C.interval(-0.5, 1.0), TC.interval(-0.5, 1.0)),
        (C.half_open_interval(-0.5, 1.0), TC.half_open_interval(-0.5, 1.0)),
        (C.greater_than(0.5), TC.greater_than(0.5)),
        (C.greater_than_eq(0.5), TC.greater_than_eq(0.5)),
        (C.less_than(0.5), TC.less_than(0.5)),
        (C.integer_interval(0, 1), TC.integer_interval(0, 1)),
    ]
    for kc, tc in cases:
        np.testing.assert_array_equal(
            _np(kc.check(kiln.tensor(x))), tc.check(torch.tensor(x)).numpy()
        )
        assert kc.is_discrete == tc.is_discrete and kc.event_dim == tc.event_dim
        assert repr(kc) == repr(tc)
    m = np.array([[0.2, 0.8], [0.5, 0.6], [-0.1, 1.1]])
    for kc, tc in (
        (C.simplex, TC.simplex),
        (C.real_vector, TC.real_vector),
        (C.independent(C.positive, 1), TC.independent(TC.positive, 1)),
        (C.one_hot, TC.one_hot),
    ):
        np.testing.assert_array_equal(
            _np(kc.check(kiln.tensor(m))), tc.check(torch.tensor(m)).numpy()
        )
        assert kc.event_dim == tc.event_dim
    a = RNG.normal(size=(2, 3, 3))
    mats = np.stack([a[0] @ a[0].T + np.eye(3), np.tril(a[1])])
    for kc, tc in (
        (C.lower_triangular, TC.lower_triangular),
        (C.lower_cholesky, TC.lower_cholesky),
        (C.positive_definite, TC.positive_definite),
        (C.symmetric, TC.symmetric),
    ):
        np.testing.assert_array_equal(
            _np(kc.check(kiln.tensor(mats))), tc.check(torch.tensor(mats)).numpy()
        )
    assert C.is_dependent(C.dependent) and not C.is_dependent(C.real)
    assert C.is_dependent(KD.Uniform.support)
    u = KD.Uniform(kiln.tensor(0.0), kiln.tensor(2.0))
    assert bool(u.support.check(kiln.tensor(1.0)))
    assert KD.Gamma.arg_constraints["rate"] is C.positive
    assert KD.Beta.support is C.unit_interval


def test_import_forms():
    import kiln.distributions.constraints as c1
    from kiln.distributions import constraints, kl_divergence, register_kl, transforms

    assert c1 is constraints
    assert callable(kl_divergence) and callable(register_kl)
    assert transforms.ExpTransform is KD.ExpTransform


ERROR_CASES = [
    lambda: KD.Exponential(kiln.tensor([-1.0])),
    lambda: KD.Gamma(kiln.tensor([1.0]), kiln.tensor([0.0])),
    lambda: KD.Gamma(kiln.tensor([-1.0]), kiln.tensor([1.0])),
    lambda: KD.Beta(kiln.tensor([0.0]), kiln.tensor([1.0])),
    lambda: KD.Dirichlet(kiln.tensor([1.0, -2.0])),
    lambda: KD.Dirichlet(kiln.tensor(1.0)),
    lambda: KD.Laplace(kiln.tensor([0.0]), kiln.tensor([-1.0])),
    lambda: KD.Poisson(kiln.tensor([-0.5])),
    lambda: KD.Binomial(kiln.tensor([2.5]), probs=kiln.tensor([0.5])),
    lambda: KD.Binomial(5, probs=kiln.tensor([1.5])),
    lambda: KD.Binomial(5),
    lambda: KD.Binomial(5, probs=kiln.tensor([0.5]), logits=kiln.tensor([0.0])),
    lambda: KD.Geometric(kiln.tensor([0.0])),
    lambda: KD.StudentT(kiln.tensor([0.0])),
    lambda: KD.Cauchy(kiln.tensor([0.0]), kiln.tensor([0.0])),
    lambda: KD.Gumbel(kiln.tensor([0.0]), kiln.tensor([-1.0])),
    lambda: KD.HalfNormal(kiln.tensor([-1.0])),
    lambda: KD.HalfCauchy(kiln.tensor([0.0])),
    lambda: KD.LogNormal(kiln.tensor([0.0]), kiln.tensor([-1.0])),
    lambda: KD.Chi2(kiln.tensor([-1.0])),
    lambda: KD.Gamma(kiln.tensor([1.0]), kiln.tensor([1.0])).log_prob(kiln.tensor([-1.0])),
    lambda: KD.Beta(kiln.tensor([1.0]), kiln.tensor([1.0])).log_prob(kiln.tensor([1.5])),
    lambda: KD.Poisson(kiln.tensor([1.0])).log_prob(kiln.tensor([0.5])),
    lambda: KD.Binomial(3, probs=kiln.tensor([0.5])).log_prob(kiln.tensor([4.0])),
    lambda: KD.Dirichlet(kiln.tensor([1.0, 1.0])).log_prob(kiln.tensor([0.5, 0.6])),
    lambda: KD.Exponential(kiln.tensor([1.0])).log_prob(kiln.tensor([-1.0])),
    lambda: KD.HalfNormal(kiln.tensor([1.0])).log_prob(kiln.tensor([-1.0])),
    lambda: KD.Gamma(kiln.ones(3), kiln.ones(3)).log_prob(kiln.ones(2)),
]


@pytest.mark.parametrize("i", range(len(ERROR_CASES)))
def test_validate_args_errors(i):
    with pytest.raises(ValueError):
        ERROR_CASES[i]()


def test_validate_args_false_allows_bad_values():
    d = KD.Gamma(kiln.tensor([-1.0]), kiln.tensor([1.0]), validate_args=False)
    assert tuple(d.batch_shape) == (1,)
    e = KD.Exponential(kiln.tensor([1.0]), validate_args=False)
    _close(
        e.log_prob(kiln.tensor([-1.0])),
        TD.Exponential(torch.tensor([1.0]), validate_args=False).log_prob(torch.tensor([-1.0])),
    )


def test_binomial_enumerate_support_and_entropy():
    kd = KD.Binomial(4, probs=kiln.tensor([0.2, 0.7], dtype=kiln.float64))
    td = TD.Binomial(4, probs=torch.tensor([0.2, 0.7], dtype=torch.float64))
    _close(kd.enumerate_support(), td.enumerate_support())
    _close(kd.entropy(), td.entropy())
    kd2 = KD.Binomial(kiln.tensor([3.0, 4.0]), probs=kiln.tensor([0.2, 0.7]))
    with pytest.raises(NotImplementedError):
        kd2.entropy()


def test_scalar_parameters_and_float32():
    d = KD.Gamma(2.0, 3.0)
    assert tuple(d.batch_shape) == () and d.sample().dtype == kiln.float32
    assert tuple(d.sample((3,)).shape) == (3,)
    b = KD.Beta(2.0, 3.0)
    assert tuple(b.batch_shape) == ()
    _close(b.log_prob(kiln.tensor(0.3)), TD.Beta(2.0, 3.0).log_prob(torch.tensor(0.3)), rtol=1e-5)
    s = KD.StudentT(3.0)
    _close(s.entropy(), TD.StudentT(3.0).entropy(), rtol=1e-5)
    ln = KD.LogNormal(0.0, 1.0)
    assert ln.rsample((2, 2)).dtype == kiln.float32


def test_multinomial_matches_torch():
    logits = _real(2, 4)
    kl = kiln.tensor(logits, requires_grad=True)
    tl = torch.tensor(logits, requires_grad=True)
    kd, td = KD.Multinomial(6, logits=kl), TD.Multinomial(6, logits=tl)
    assert tuple(kd.batch_shape) == (2,) and tuple(kd.event_shape) == (4,)
    v = td.sample((5,))
    k, t = kd.log_prob(kiln.tensor(v.numpy())), td.log_prob(v)
    _close(k, t)
    k.sum().backward()
    t.sum().backward()
    _close(kl.grad, tl.grad)
    _close(kd.mean, td.mean)
    _close(kd.variance, td.variance)
    _close(kd.entropy(), td.entropy())
    kiln.manual_seed(2)
    s = _np(kd.sample((20000,)))
    assert s.shape == (20000, 2, 4) and np.all(s.sum(-1) == 6)
    np.testing.assert_allclose(s.mean(0), _np(td.mean), atol=0.06)
    assert tuple(kd.expand((3, 2)).sample().shape) == (3, 2, 4)
    with pytest.raises(ValueError):
        kd.log_prob(kiln.tensor([[1.0, 2.0, 3.0, 4.0], [1.0, 1.0, 1.0, 1.0]]))


def test_biject_to_and_transform_to_match_torch():
    C, TC = KD.constraints, TD.constraints
    x = _real(3, 4)
    for kc, tc in (
        (C.real, TC.real),
        (C.positive, TC.positive),
        (C.greater_than(1.5), TC.greater_than(1.5)),
        (C.less_than(-1.0), TC.less_than(-1.0)),
        (C.unit_interval, TC.unit_interval),
        (C.interval(-2.0, 3.0), TC.interval(-2.0, 3.0)),
        (C.simplex, TC.simplex),
        (C.independent(C.positive, 1), TC.independent(TC.positive, 1)),
    ):
        for kreg, treg in ((KD.biject_to, TD.biject_to), (KD.transform_to, TD.transform_to)):
            kt, tt = kreg(kc), treg(tc)
            ky, ty = kt(kiln.tensor(x)), tt(torch.tensor(x))
            _close(ky, ty)
            assert bool(kc.check(ky).all())
            if kt.bijective:
                _close(
                    kt.log_abs_det_jacobian(kiln.tensor(x), ky),
                    tt.log_abs_det_jacobian(torch.tensor(x), ty),
                )
    with pytest.raises(NotImplementedError):
        KD.biject_to(C.boolean)


def test_expand_of_the_original_families():
    a = RNG.normal(size=(3, 3))
    cov = a @ a.T + np.eye(3)
    loc = _real(3)
    kd = KD.MultivariateNormal(kiln.tensor(loc), covariance_matrix=kiln.tensor(cov))
    td = TD.MultivariateNormal(torch.tensor(loc), covariance_matrix=torch.tensor(cov))
    ke, te = kd.expand((4,)), td.expand((4,))
    assert tuple(ke.batch_shape) == (4,) and tuple(ke.event_shape) == (3,)
    v = te.sample((2,))
    _close(ke.log_prob(kiln.tensor(v.numpy())), te.log_prob(v))
    assert tuple(ke.sample((2,)).shape) == (2, 4, 3)
    p = _prob(2, 3)
    p = p / p.sum(-1, keepdims=True)
    ko = KD.OneHotCategorical(probs=kiln.tensor(p)).expand((5, 2))
    to = TD.OneHotCategorical(probs=torch.tensor(p)).expand((5, 2))
    assert tuple(ko.sample().shape) == tuple(to.sample().shape) == (5, 2, 3)
    _close(ko.entropy(), to.entropy())
    ki = KD.Independent(KD.Normal(kiln.tensor(_real(2, 3)), 1.0), 1).expand((4, 2))
    assert tuple(ki.batch_shape) == (4, 2) and tuple(ki.event_shape) == (3,)
    assert tuple(ki.log_prob(kiln.zeros(3)).shape) == (4, 2)
    assert ki.support.event_dim == 1
    with pytest.raises(ValueError):
        KD.Normal(kiln.zeros(3), 1.0).log_prob(kiln.tensor([float("nan"), 0.0, 0.0]))
    with pytest.raises(ValueError):
        KD.Normal(kiln.zeros(3), 1.0).log_prob(kiln.zeros(2))


def test_under_jit_log_prob_entropy_kl_equal_eager():
    def f(a, x):
        return (
            KD.Gamma(a, 2.0).log_prob(x)
            + KD.Beta(a, a + 1).entropy()
            + KD.StudentT(a + 1, 0.0, a).log_prob(x)
            + KD.kl_divergence(KD.Laplace(a, a), KD.Laplace(a, 2 * a))
            + KD.Normal(a, 1.0).log_prob(x)
        )

    a = kiln.tensor([0.5, 2.0, 3.0], dtype=kiln.float64)
    x = kiln.tensor([0.2, 1.0, 4.0], dtype=kiln.float64)
    _close(kiln.jit(f)(a, x), f(a, x), rtol=1e-6)

    def draw(a):
        return KD.Gamma(a, 1.0).rsample((3,))

    with pytest.raises(RuntimeError, match="cannot run under kiln.jit"):
        kiln.jit(draw)(a)


def test_relaxed_samples_lie_in_support_and_flow_gradients():
    kiln.manual_seed(4)
    logits = kiln.tensor([[0.1, 1.0, -0.5]], dtype=kiln.float64, requires_grad=True)
    t = kiln.tensor(0.3, dtype=kiln.float64)
    s = KD.RelaxedOneHotCategorical(t, logits=logits).rsample((20000,))
    assert tuple(s.shape) == (20000, 1, 3)
    np.testing.assert_allclose(_np(s.sum(-1)), 1.0, rtol=1e-9)
    # argmax of a Gumbel-softmax sample is a Categorical(logits) draw
    counts = np.bincount(_np(s.argmax(-1)).ravel(), minlength=3) / 20000
    np.testing.assert_allclose(counts, _np(kiln.softmax(logits, -1)).ravel(), atol=0.02)
    s[..., 1].sum().backward()
    assert logits.grad is not None and np.all(np.isfinite(_np(logits.grad)))
    p = kiln.tensor([0.2, 0.9], dtype=kiln.float64)
    b = _np(KD.RelaxedBernoulli(kiln.tensor(0.05, dtype=kiln.float64), probs=p).sample((20000,)))
    assert np.all((b >= 0) & (b <= 1))
    np.testing.assert_allclose((b > 0.5).mean(0), [0.2, 0.9], atol=0.02)


def test_submodules_and_utils_as_torch():
    import importlib

    for mod in (
        "normal",
        "categorical",
        "bernoulli",
        "gamma",
        "beta",
        "dirichlet",
        "transformed_distribution",
        "mixture_same_family",
        "relaxed_categorical",
        "studentT",
        "kl",
        "distribution",
        "utils",
    ):
        k_mod = importlib.import_module(f"kiln.distributions.{mod}")
        t_mod = importlib.import_module(f"torch.distributions.{mod}")
        for name in getattr(t_mod, "__all__", []):
            assert hasattr(k_mod, name), (mod, name)
    from torch.distributions import utils as tu

    from kiln.distributions.utils import (
        broadcast_all,
        lazy_property,
        logits_to_probs,
        probs_to_logits,
        tril_matrix_to_vec,
        vec_to_tril_matrix,
    )

    p = _prob(3)
    _close(probs_to_logits(kiln.tensor(p)), tu.probs_to_logits(torch.tensor(p)))
    _close(
        probs_to_logits(kiln.tensor(p), is_binary=True),
        tu.probs_to_logits(torch.tensor(p), is_binary=True),
    )
    x = _real(2, 3)
    _close(logits_to_probs(kiln.tensor(x)), tu.logits_to_probs(torch.tensor(x)))
    a, b = broadcast_all(kiln.zeros(2, 1), 3.0)
    assert tuple(a.shape) == tuple(b.shape) == (2, 1)
    with pytest.raises(ValueError):
        broadcast_all(kiln.zeros(2), "x")
    v = np.arange(12.0).reshape(2, 6)
    _close(vec_to_tril_matrix(kiln.tensor(v)), tu.vec_to_tril_matrix(torch.tensor(v)))
    m = np.arange(18.0).reshape(2, 3, 3)
    for d in (0, -1):
        _close(tril_matrix_to_vec(kiln.tensor(m), d), tu.tril_matrix_to_vec(torch.tensor(m), d))

    class Thing:
        calls = 0

        @lazy_property
        def value(self):
            Thing.calls += 1
            return 5

    t = Thing()
    assert t.value == 5 and t.value == 5 and Thing.calls == 1


def test_cumulative_distribution_transform_and_lower_cholesky_registry():
    kt = KD.transforms.CumulativeDistributionTransform(KD.Normal(0.5, 2.0))
    tt = TD.transforms.CumulativeDistributionTransform(TD.Normal(0.5, 2.0))
    x = _real(4)
    _close(kt(kiln.tensor(x)), tt(torch.tensor(x)), rtol=1e-6)
    y = tt(torch.tensor(x))
    _close(kt.inv(kiln.tensor(y.numpy())), tt.inv(y), rtol=1e-6)
    _close(
        kt.log_abs_det_jacobian(kiln.tensor(x), kiln.tensor(y.numpy())),
        tt.log_abs_det_jacobian(torch.tensor(x), y),
    )
    m = _real(3, 3)
    L = KD.transform_to(KD.constraints.lower_cholesky)(kiln.tensor(m))
    _close(L, TD.transform_to(TD.constraints.lower_cholesky)(torch.tensor(m)))
    assert bool(KD.constraints.lower_cholesky.check(L))


def test_enumerate_support_matches_torch():
    p = _prob(2, 3)
    for k, t in (
        (KD.Bernoulli(kiln.tensor(p)), TD.Bernoulli(torch.tensor(p))),
        (
            KD.Categorical(kiln.tensor(p)),
            TD.Categorical(torch.tensor(p)),
        ),
        (KD.OneHotCategorical(kiln.tensor(p)), TD.OneHotCategorical(torch.tensor(p))),
        (KD.Binomial(3, kiln.tensor(p)), TD.Binomial(3, torch.tensor(p))),
    ):
        assert k.has_enumerate_support == t.has_enumerate_support
        for expand in (True, False):
            _close(k.enumerate_support(expand), t.enumerate_support(expand))
            assert tuple(k.enumerate_support(expand).shape) == tuple(
                t.enumerate_support(expand).shape
            )


@pytest.mark.parametrize("family", ["Normal", "Laplace", "Cauchy", "Gumbel", "StudentT"])
def test_location_scale_rsample_pathwise_gradients(family):
    # x = loc + scale * eps: dx/dloc = 1 and dx/dscale = (x - loc) / scale per sample
    kiln.manual_seed(9)
    loc = kiln.tensor([0.5, -1.0], dtype=kiln.float64, requires_grad=True)
    scale = kiln.tensor([2.0, 0.5], dtype=kiln.float64, requires_grad=True)
    if family == "StudentT":
        d = KD.StudentT(kiln.tensor([4.0, 7.0], dtype=kiln.float64), loc, scale)
    else:
        d = getattr(KD, family)(loc, scale)
    x = d.rsample((50,))
    x.sum().backward()
    np.testing.assert_allclose(_np(loc.grad), [50.0, 50.0])
    expected = ((_np(x) - _np(loc)) / _np(scale)).sum(0)
    np.testing.assert_allclose(_np(scale.grad), expected, rtol=1e-9, atol=1e-9)


def test_cat_and_stack_transforms_match_torch():
    x = _real(2, 5)
    kc = KD.transforms.CatTransform(
        [KD.transforms.ExpTransform(), KD.transforms.AffineTransform(1.0, 3.0)],
        dim=1,
        lengths=[2, 3],
    )
    tc = TD.transforms.CatTransform(
        [TD.transforms.ExpTransform(), TD.transforms.AffineTransform(1.0, 3.0)],
        dim=1,
        lengths=[2, 3],
    )
    ky, ty = kc(kiln.tensor(x)), tc(torch.tensor(x))
    _close(ky, ty)
    _close(kc.inv(ky), x)
    _close(
        kc.log_abs_det_jacobian(kiln.tensor(x), ky), tc.log_abs_det_jacobian(torch.tensor(x), ty)
    )
    x = _real(2, 3)
    ks = KD.transforms.StackTransform(
        [KD.transforms.ExpTransform(), KD.transforms.SigmoidTransform()], dim=0
    )
    ts = TD.transforms.StackTransform(
        [TD.transforms.ExpTransform(), TD.transforms.SigmoidTransform()], dim=0
    )
    ky, ty = ks(kiln.tensor(x)), ts(torch.tensor(x))
    _close(ky, ty)
    _close(ks.inv(ky), x)
    _close(
        ks.log_abs_det_jacobian(kiln.tensor(x), ky), ts.log_abs_det_jacobian(torch.tensor(x), ty)
    )
    np.testing.assert_array_equal(_np(ks.codomain.check(ky)), ts.codomain.check(ty).numpy())


def test_one_hot_straight_through_and_exponential_family():
    kiln.manual_seed(0)
    logits = kiln.tensor([[0.2, -1.0, 0.5]], dtype=kiln.float64, requires_grad=True)
    d = KD.OneHotCategoricalStraightThrough(logits=logits)
    s = d.rsample((4,))
    assert tuple(s.shape) == (4, 1, 3) and bool(((s == 0) | (s == 1)).all())
    (s * kiln.tensor([1.0, 2.0, 3.0], dtype=kiln.float64)).sum().backward()
    tl = torch.tensor([[0.2, -1.0, 0.5]], dtype=torch.float64, requires_grad=True)
    tp = torch.softmax(tl, -1)
    (4 * (tp * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum()).backward()
    _close(logits.grad, tl.grad)

    class MyExponential(KD.ExponentialFamily):
        arg_constraints = {"rate": KD.constraints.positive}

        def __init__(self, rate):
            self.rate = rate
            super().__init__(rate.shape)

        @property
        def _natural_params(self):
            return (-self.rate,)

        def _log_normalizer(self, x):
            return -kiln.log(-x)

        @property
        def _mean_carrier_measure(self):
            return 0

    rate = _pos(3)
    _close(MyExponential(kiln.tensor(rate)).entropy(), TD.Exponential(torch.tensor(rate)).entropy())


def test_lowrank_multivariate_normal_matches_torch():
    loc, W, D = _real(2, 4), _real(2, 4, 2), _pos(4)
    kl_ = kiln.tensor(loc, requires_grad=True)
    kW = kiln.tensor(W, requires_grad=True)
    kD = kiln.tensor(D, requires_grad=True)
    tl_ = torch.tensor(loc, requires_grad=True)
    tW = torch.tensor(W, requires_grad=True)
    tD = torch.tensor(D, requires_grad=True)
    kd = KD.LowRankMultivariateNormal(kl_, kW, kD)
    td = TD.LowRankMultivariateNormal(tl_, tW, tD)
    assert tuple(kd.batch_shape) == (2,) and tuple(kd.event_shape) == (4,)
    v = td.sample((3,))
    k_lp, t_lp = kd.log_prob(kiln.tensor(v.numpy())), td.log_prob(v)
    _close(k_lp, t_lp)
    for attr in ("variance", "covariance_matrix", "precision_matrix", "scale_tril", "mean"):
        _close(getattr(kd, attr), getattr(td, attr), rtol=1e-6)
    _close(kd.entropy(), td.entropy())
    (k_lp.sum() + kd.entropy().sum()).backward()
    (t_lp.sum() + td.entropy().sum()).backward()
    for a, b in ((kl_, tl_), (kW, tW), (kD, tD)):
        _close(a.grad, b.grad, rtol=1e-6)
    kiln.manual_seed(8)
    s = _np(kd.sample((40000,)))
    assert s.shape == (40000, 2, 4)
    np.testing.assert_allclose(
        np.cov(s[:, 0].T), td.covariance_matrix[0].detach().numpy(), atol=0.15
    )
    assert tuple(kd.expand((3, 2)).rsample((5,)).shape) == (5, 3, 2, 4)
    with pytest.raises(ValueError):
        KD.LowRankMultivariateNormal(kiln.zeros(4), kiln.zeros(3, 2), kiln.ones(4))
    with pytest.raises(ValueError):
        KD.LowRankMultivariateNormal(kiln.zeros(4), kiln.zeros(4, 2), -kiln.ones(4))


def test_generalized_pareto_matches_torch_float32():
    # torch's GeneralizedPareto.log_prob compares with a float32 zero, so it only runs in
    # float32 there: compare in float32
    loc, scale = _real(4), _pos(4)
    conc = np.array([-0.3, 0.0, 0.2, 0.6])
    kp = [kiln.tensor(a, dtype=kiln.float32, requires_grad=True) for a in (loc, scale, conc)]
    tp = [torch.tensor(a, dtype=torch.float32, requires_grad=True) for a in (loc, scale, conc)]
    kd, td = KD.GeneralizedPareto(*kp), TD.GeneralizedPareto(*tp)
    torch.manual_seed(0)
    v = td.sample((5,))
    kv = kiln.tensor(v.numpy())
    u = torch.tensor(RNG.uniform(0.05, 0.95, size=(4,)), dtype=torch.float32)
    pairs = [
        (kd.log_prob(kv), td.log_prob(v)),
        (kd.cdf(kv), td.cdf(v)),
        (kd.icdf(kiln.tensor(u.numpy())), td.icdf(u)),
        (kd.entropy(), td.entropy()),
        (kd.mean, td.mean),
        (kd.variance, td.variance),
    ]
    for k, t in pairs:
        _close(k, t, rtol=2e-5, atol=1e-6)
    k_tot = sum(k.nan_to_num().sum() for k, _ in pairs)
    t_tot = sum(t.nan_to_num().sum() for _, t in pairs)
    k_tot.backward()
    t_tot.backward()
    for a, b in zip(kp, tp, strict=True):
        _close(a.grad, b.grad, rtol=1e-4, atol=1e-4)
    assert tuple(kd.expand((2, 4)).sample((3,)).shape) == (3, 2, 4)
    with pytest.raises(ValueError):
        kd.log_prob(kiln.tensor([loc[0] - 1.0] * 4))


def test_corr_cholesky_and_positive_definite_transforms_match_torch():
    x = _real(2, 6)
    kx = kiln.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    kt, tt = KD.transforms.CorrCholeskyTransform(), TD.transforms.CorrCholeskyTransform()
    ky, ty = kt(kx), tt(tx)
    _close(ky, ty)
    assert bool(KD.constraints.corr_cholesky.check(ky).all())
    _close(kt.inv(kiln.tensor(ty.detach().numpy())), tt.inv(ty.detach()), rtol=1e-6)
    kj, tj = kt.log_abs_det_jacobian(kx, ky), tt.log_abs_det_jacobian(tx, ty)
    _close(kj, tj)
    kj.sum().backward()
    tj.sum().backward()
    _close(kx.grad, tx.grad, rtol=1e-6)
    assert tuple(kt.forward_shape((2, 6))) == (2, 4, 4)
    assert tuple(kt.inverse_shape((2, 4, 4))) == (2, 6)
    m = _real(2, 3, 3)
    kp, tp = KD.transforms.PositiveDefiniteTransform(), TD.transforms.PositiveDefiniteTransform()
    _close(kp(kiln.tensor(m)), tp(torch.tensor(m)))
    _close(kp.inv(kp(kiln.tensor(m))), tp.inv(tp(torch.tensor(m))), rtol=1e-6)
    assert isinstance(
        KD.biject_to(KD.constraints.corr_cholesky), KD.transforms.CorrCholeskyTransform
    )
    assert isinstance(
        KD.transform_to(KD.constraints.positive_definite),
        KD.transforms.PositiveDefiniteTransform,
    )


def test_lkj_cholesky_matches_torch():
    conc = np.array([0.5, 1.0, 3.0])
    kc = kiln.tensor(conc, requires_grad=True)
    tc = torch.tensor(conc, requires_grad=True)
    kd, td = KD.LKJCholesky(4, kc), TD.LKJCholesky(4, tc)
    assert tuple(kd.batch_shape) == (3,) and tuple(kd.event_shape) == (4, 4)
    torch.manual_seed(0)
    v = td.sample((2,))
    k, t = kd.log_prob(kiln.tensor(v.numpy())), td.log_prob(v)
    _close(k, t)
    k.sum().backward()
    t.sum().backward()
    _close(kc.grad, tc.grad)
    kiln.manual_seed(6)
    s = kd.sample((4000,))
    assert tuple(s.shape) == (4000, 3, 4, 4)
    assert bool(KD.constraints.corr_cholesky.check(s).all())
    # the off-diagonal correlation has variance 1 / (2 eta + dim - 1) under LKJ(eta)
    corr = _np(s @ s.transpose(-1, -2))[..., 0, 1]
    np.testing.assert_allclose(corr.var(0), 1 / (2 * conc + 3), rtol=0.1)
    assert tuple(kd.expand((2, 3)).sample().shape) == (2, 3, 4, 4)
    with pytest.raises(ValueError):
        KD.LKJCholesky(1)


@pytest.mark.parametrize("param", ["covariance_matrix", "precision_matrix", "scale_tril"])
def test_wishart_matches_torch(param):
    a = RNG.normal(size=(2, 3, 3))
    cov = a @ a.transpose(0, 2, 1) + np.eye(3)
    if param == "precision_matrix":
        mat = np.linalg.inv(cov)
    elif param == "scale_tril":
        mat = np.linalg.cholesky(cov)
    else:
        mat = cov
    df = np.array([4.0, 6.5])
    km, tm = kiln.tensor(mat, requires_grad=True), torch.tensor(mat, requires_grad=True)
    kdf, tdf = kiln.tensor(df, requires_grad=True), torch.tensor(df, requires_grad=True)
    kd = KD.Wishart(kdf, **{param: km})
    td = TD.Wishart(tdf, **{param: tm})
    assert tuple(kd.batch_shape) == (2,) and tuple(kd.event_shape) == (3, 3)
    torch.manual_seed(0)
    v = td.sample((4,))
    k_lp, t_lp = kd.log_prob(kiln.tensor(v.numpy())), td.log_prob(v)
    _close(k_lp, t_lp, rtol=1e-6)
    for attr in ("mean", "mode", "variance", "covariance_matrix", "precision_matrix", "scale_tril"):
        _close(getattr(kd, attr), getattr(td, attr), rtol=1e-6)
    _close(kd.entropy(), td.entropy())
    (k_lp.sum() + kd.entropy().sum()).backward()
    (t_lp.sum() + td.entropy().sum()).backward()
    _close(km.grad, tm.grad, rtol=1e-5, atol=1e-7)
    _close(kdf.grad, tdf.grad, rtol=1e-6)
    kiln.manual_seed(3)
    s = _np(kd.sample((20000,)))
    assert s.shape == (20000, 2, 3, 3)
    np.testing.assert_allclose(s.mean(0), _np(td.mean), rtol=0.05, atol=0.15)
    assert tuple(kd.expand((5, 2)).rsample().shape) == (5, 2, 3, 3)
    with pytest.raises(ValueError):
        KD.Wishart(kiln.tensor(1.5), covariance_matrix=kiln.tensor(cov))


def test_mixture_support_with_dependent_component_support():
    low, high = np.array([[0.0, 1.0], [2.0, 3.0]]), np.array([[2.0, 4.0], [5.0, 6.0]])
    kmix = KD.MixtureSameFamily(
        KD.Categorical(probs=kiln.ones(2, 2) / 2), KD.Uniform(kiln.tensor(low), kiln.tensor(high))
    )
    tmix = TD.MixtureSameFamily(
        TD.Categorical(probs=torch.ones(2, 2) / 2),
        TD.Uniform(torch.tensor(low), torch.tensor(high)),
    )
    x = np.array([[1.5, 3.5], [0.5, 5.5]])
    np.testing.assert_array_equal(
        _np(kmix.support.check(kiln.tensor(x))), tmix.support.check(torch.tensor(x)).numpy()
    )
    assert kmix.support.event_dim == tmix.support.event_dim
    with pytest.raises(ValueError):
        kmix.log_prob(kiln.tensor(x))
    kmix.expand((3, 2))
