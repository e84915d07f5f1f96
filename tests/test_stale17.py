"""Probes of stale traces: change what a compiled function depends on, as a PyTorch user
would, and check that the next call agrees with eager.

Each probe is written once against a ``torch``-like module ``T`` and runs on kiln
(``kiln.compile`` with ``fullgraph=True``, so a probe cannot pass by falling back to eager,
and ``kiln.jit``). Where the probe is about something torch.compile recompiles on, it also
runs on real PyTorch (``torch.compile(backend="eager")``: the guards are Dynamo's whatever
the back end), which must agree with its own eager result: so each such probe checks a
behaviour PyTorch has. ``torch.jit.trace`` / ``script`` freeze values as PyTorch documents;
those probes compare with what PyTorch prints.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import functools
import math
import warnings

import numpy as np
import pytest

import kiln
import kiln.nn as knn
from kiln.compiler.errors import TraceError
from kiln.jit import config

torch = pytest.importorskip("torch")

from _stale_probes import Probes  # noqa: E402
from _stale_probes import close as _close  # noqa: E402
from _stale_probes import to_numpy as _np  # noqa: E402
from _stale_probes import x_of as _x  # noqa: E402

PROBES = Probes(torch_too=True)
probe = PROBES.probe


def torch_compile(fn):
    return torch.compile(fn, backend="eager")


# ------------------------------------------------------------------------------ the function


@probe()
def default_argument_replaced(T, compile):
    def f(x, k=2.0):
        return x * k

    c = compile(f)
    c(_x(T))
    f.__defaults__ = (5.0,)
    return c(_x(T)), f(_x(T))


@probe()
def keyword_only_default_replaced(T, compile):
    def f(x, *, k=2.0):
        return x * k

    c = compile(f)
    c(_x(T))
    f.__kwdefaults__["k"] = 5.0
    return c(_x(T)), f(_x(T))


@probe()
def method_default_replaced(T, compile):
    class A(T.nn.Module):
        def forward(self, x, k=2.0):
            return x * k

    m = A()
    c = compile(m)
    c(_x(T))
    A.forward.__defaults__ = (4.0,)
    return c(_x(T)), m(_x(T))


@probe()
def code_object_replaced(T, compile):
    def f(x):
        return x + 1

    c = compile(f)
    c(_x(T))
    f.__code__ = (lambda x: x + 2).__code__
    return c(_x(T)), f(_x(T))


@probe()
def partial_keywords_mutated(T, compile):
    def f(x, a):
        return x * a

    p = functools.partial(f, a=2.0)
    c = compile(p)
    c(_x(T))
    p.keywords["a"] = 5.0
    return c(_x(T)), p(_x(T))


@probe()
def compiled_helper_closure(T, compile):
    scale = [2.0]

    @compile
    def inner(x):
        return x * scale[0]

    def outer(x):
        return inner(x) + 1

    c = compile(outer)
    c(_x(T))
    scale[0] = 7.0
    return c(_x(T)), outer(_x(T))


@probe()
def compiled_method_attribute(T, compile):
    class A:
        def __init__(self, k):
            self.k = k

        @compile
        def run(self, x):
            return x * self.k

    a = A(2.0)
    a.run(_x(T))
    a.k = 5.0
    b = A(7.0)
    return [a.run(_x(T)), b.run(_x(T))], [_x(T) * 5.0, _x(T) * 7.0]


# ------------------------------------------------------------------------------ arguments


@probe()
def dict_argument_key_order(T, compile):
    def f(d):
        out = [v * (i + 1) for i, v in enumerate(d.values())]
        return out[0] + 10 * out[1]

    c = compile(f)
    x = _x(T)
    c({"a": x, "b": x * 2})
    d = {"b": x * 2, "a": x}
    return c(d), f(d)


@probe()
def kwargs_order(T, compile):
    def f(**kw):
        vals = list(kw.values())
        return vals[0] * 2 - vals[1]

    c = compile(f)
    x = _x(T)
    c(a=x, b=x + 1)
    return c(b=x + 1, a=x), f(b=x + 1, a=x)


NT = collections.namedtuple("NT", "a b")


@probe()
def namedtuple_argument(T, compile):
    def f(d):
        return d.a * d.b

    c = compile(f)
    x = _x(T)
    c(NT(x, 2.0))
    return [c(NT(x, 3.0)), c(NT(x * 2, x))], [f(NT(x, 3.0)), f(NT(x * 2, x))]


@probe()
def namedtuple_output(T, compile):
    def f(x):
        return NT(x * 2, x + 1)

    c = compile(f)
    c(_x(T))
    r = c(_x(T))
    assert type(r) is NT
    return [r.a, r.b], list(f(_x(T)))


@probe()
def python_int_as_dim(T, compile):
    def f(x, d):
        return x.sum(dim=d)

    y = T.arange(6.0).reshape(2, 3)
    c = compile(f)
    c(y, 0)
    return c(y, 1), f(y, 1)


@probe()
def python_float_as_dict_key(T, compile):
    table = {1.0: 2.0, 2.0: 5.0}

    def f(x, a):
        return x * table[a]

    c = compile(f)
    c(_x(T), 1.0)
    return c(_x(T), 2.0), f(_x(T), 2.0)


@probe()
def python_float_formatted(T, compile):
    def f(x, a):
        return x * len(f"{a}")

    c = compile(f)
    c(_x(T), 1.0)
    return c(_x(T), 100.25), f(_x(T), 100.25)


@probe()
def python_numbers_in_python_math(T, compile):
    def f(x, a, n):
        return x * math.floor(a) + round(a) + sum(range(n))

    c = compile(f)
    c(_x(T), 1.5, 2)
    return c(_x(T), 3.7, 4), f(_x(T), 3.7, 4)


@probe()
def python_int_indexes_a_list(T, compile):
    ts = [T.ones(3), T.full((3,), 2.0)]

    def f(i):
        return ts[i] * 2

    c = compile(f)
    c(0)
    return c(1), f(1)


@probe()
def aliased_tensor_arguments(T, compile):
    def f(a, b):
        a.add_(1)
        return b * 2

    c = compile(f)
    c(_x(T), _x(T))
    p, q = _x(T), _x(T)
    r = c(p, p)
    e = f(q, q)
    return [r, p], [e, q]


class Mode(enum.Enum):
    A = 1
    B = 2


@probe()
def enum_argument(T, compile):
    def f(x, m):
        return x * 2 if m is Mode.A else x * 3

    c = compile(f)
    c(_x(T), Mode.A)
    return c(_x(T), Mode.B), f(_x(T), Mode.B)


@dataclasses.dataclass
class Cfg:
    k: float


@probe()
def dataclass_argument_mutated(T, compile):
    def f(x, cfg):
        return x * cfg.k

    c = compile(f)
    cfg = Cfg(2.0)
    c(_x(T), cfg)
    cfg.k = 4.0
    return c(_x(T), cfg), f(_x(T), cfg)


@probe()
def python_float_decides_a_branch(T, compile):
    def f(x, a):
        if a > 0:
            return x * a
        return x - a

    c = compile(f)
    c(_x(T), 1.0)
    return [c(_x(T), -2.0), c(_x(T), 3.0)], [f(_x(T), -2.0), f(_x(T), 3.0)]


@probe()
def python_int_counts_a_loop(T, compile):
    def f(x, n):
        for _ in range(n * 2 - 1):
            x = x * 2
        return x

    c = compile(f)
    c(_x(T), 1)
    return c(_x(T), 3), f(_x(T), 3)


class _Obj:
    """A plain object without weak references (as ``types.SimpleNamespace``)."""

    __slots__ = ("k", "ks", "d")

    def __init__(self, k=2.0, ks=None, d=None):
        self.k = k
        self.ks = ks if ks is not None else [2.0]
        self.d = d if d is not None else {"a": [1.0]}


@probe()
def object_in_list_argument_mutated(T, compile):
    o = _Obj()

    def f(x, xs):
        return x * xs[0].k

    c = compile(f)
    c(_x(T), [o])
    o.k = 5.0
    return c(_x(T), [o]), f(_x(T), [o])


@probe()
def object_in_dict_argument_mutated(T, compile):
    o = _Obj()

    def f(x, d):
        return x * d["cfg"].k

    c = compile(f)
    c(_x(T), {"cfg": o})
    o.k = 5.0
    return c(_x(T), {"cfg": o}), f(_x(T), {"cfg": o})


@probe()
def list_inside_object_argument_mutated(T, compile):
    o = _Obj()

    def f(x, cfg):
        for k in cfg.ks:
            x = x * k
        return x * cfg.d["a"][0]

    c = compile(f)
    c(_x(T), o)
    o.ks.append(3.0)
    o.d["a"][0] = 4.0
    return c(_x(T), o), f(_x(T), o)


@probe()
def module_argument_attribute(T, compile):
    class A(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.k = 2.0

        def forward(self, x):
            return x * self.k

    m = A()

    def f(x, mod):
        return mod(x)

    c = compile(f)
    c(_x(T), m)
    m.k = 6.0
    return c(_x(T), m), f(_x(T), m)


def test_static_list_argument_mutated_in_place():
    def f(x, ws):
        for w in ws:
            x = x * w
        return x

    jf = kiln.jit(f, static_argnums=(1,))
    ws = [2.0]
    jf(_x(kiln), ws)
    ws.append(3.0)
    _close(jf(_x(kiln), ws), f(_x(kiln), ws))
    ws[0] = 5.0
    _close(jf(_x(kiln), ws), f(_x(kiln), ws))


@probe()
def getattr_hasattr_with_constant_names(T, compile):
    class A(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = 2.0

        def forward(self, x):
            y = x * getattr(self, "scale") * getattr(self, "extra", 1.0)  # noqa: B009
            return y + 1 if hasattr(self, "shift") else y

    m = A()
    c = compile(m)
    c(_x(T))
    m.scale = 4.0
    out = [c(_x(T))]
    m.extra = 3.0
    out.append(c(_x(T)))
    m.shift = True
    out.append(c(_x(T)))
    return out, [_x(T) * 4.0, _x(T) * 12.0, _x(T) * 12.0 + 1]


@probe()
def class_attribute_through_type_of_self(T, compile):
    class A(T.nn.Module):
        K = 2.0

        def forward(self, x):
            return x * type(self).K + self.__class__.K

    m = A()
    c = compile(m)
    c(_x(T))
    A.K = 3.0
    return c(_x(T)), m(_x(T))


# ------------------------------------------------------------------------------ globals


_S = {1}
_FLAG = {"on": True}


@probe()
def global_set_mutated(T, compile):
    def f(x):
        return x * len(_S)

    c = compile(f)
    c(_x(T))
    _S.add(len(_S) + 1)
    return c(_x(T)), f(_x(T))


@probe()
def deterministic_algorithms_flag(T, compile):
    def f(x):
        return x * 2 if T.are_deterministic_algorithms_enabled() else x * 3

    c = compile(f)
    c(_x(T))
    T.use_deterministic_algorithms(True)
    try:
        return c(_x(T)), f(_x(T))
    finally:
        T.use_deterministic_algorithms(False)


@probe(torch_too=False)  # (PyTorch: not in Dynamo's global state guard)
def float32_matmul_precision(T, compile):
    def f(x):
        return x * 2 if T.get_float32_matmul_precision() == "highest" else x * 3

    c = compile(f)
    c(_x(T))
    old = T.get_float32_matmul_precision()
    T.set_float32_matmul_precision("high")
    try:
        return c(_x(T)), f(_x(T))
    finally:
        T.set_float32_matmul_precision(old)


@probe()
def backends_cudnn_switch(T, compile):
    def f(x):
        return x * 2 if T.backends.cudnn.deterministic else x * 3

    c = compile(f)
    c(_x(T))
    old = T.backends.cudnn.deterministic
    T.backends.cudnn.deterministic = not old
    try:
        return c(_x(T)), f(_x(T))
    finally:
        T.backends.cudnn.deterministic = old


@probe()
def gradient_read_inside(T, compile):
    w = T.ones(3, requires_grad=True)

    def f(x):
        return x * (w.grad if w.grad is not None else 1.0)

    c = compile(f)
    x = _x(T)
    out = [c(x)]
    (w * x).sum().backward()
    out.append(c(x))
    w.grad = None
    (w * x * 2).sum().backward()
    out.append(c(x))
    w.grad = None
    out.append(c(x))
    w2 = T.ones(3, requires_grad=True)
    w = w2  # (the closure cell now holds a tensor without a gradient)
    out.append(c(x))
    return out, [x, x * x, 2 * x * x, x, x]


@probe()
def enable_grad_inside_no_grad(T, compile):
    w = T.ones(3, requires_grad=True)

    def f(x):
        with T.enable_grad():
            return x * w

    c = compile(f)
    with T.no_grad():
        a = c(_x(T))
        b = f(_x(T))
    assert a.requires_grad == b.requires_grad
    a.sum().backward()
    return [a, w.grad], [b, _x(T)]


# ------------------------------------------------------------------------------ kiln only


test_probe_agrees_with_eager, test_probe_is_what_torch_compile_does = PROBES.tests(torch)


def test_manual_seed_inside_runs_eagerly_under_compile_and_raises_under_jit():
    def f(x):
        kiln.manual_seed(1)
        return x + kiln.randn(3)

    c = kiln.compile(f)
    with pytest.warns(UserWarning, match="manual_seed"):
        a = c(kiln.zeros(3))
    b = c(kiln.zeros(3))
    e = f(kiln.zeros(3))
    _close(a, e)
    _close(b, e)
    with pytest.raises(TraceError, match="manual_seed"):
        kiln.jit(f)(kiln.zeros(3))


def test_python_number_specialized_only_when_used_as_a_value():
    def f(x, a, d):
        return x * a + x.sum(dim=d)

    jf = kiln.jit(f)
    y = kiln.arange(9.0).reshape(3, 3)
    _close(jf(y, 1.0, 0), f(y, 1.0, 0))
    traces = jf.trace_count  # (the trace that found ``d`` used as a dim, and the real one)
    for a in (2.0, 3.0):
        _close(jf(y, a, 0), f(y, a, 0))
    assert jf.trace_count == traces  # ``a`` stays a graph input
    _close(jf(y, 2.0, 1), f(y, 2.0, 1))
    assert jf.trace_count == traces + 1  # ``d`` is in the key by value


def test_recompile_reasons_name_the_change(caplog, monkeypatch):
    monkeypatch.setattr(config, "log_recompiles", True)

    def f(x, k=2.0):
        return x * k

    jf = kiln.jit(f)
    with caplog.at_level("INFO", logger="kiln.jit"):
        jf(kiln.ones(3))
        f.__defaults__ = (3.0,)
        jf(kiln.ones(3))
        kiln.use_deterministic_algorithms(True)
        try:
            jf(kiln.ones(3))
        finally:
            kiln.use_deterministic_algorithms(False)
    assert "retracing f: f.__defaults__[0] changed 2.0 -> 3.0" in caplog.text
    assert "use_deterministic_algorithms changed from False to True" in caplog.text


# ------------------------------------------------------------------------------ jit.trace/script


class _Scaled(knn.Module):
    def __init__(self):
        super().__init__()
        self.k = 2.0
        self.flag = True
        self.lin = knn.Linear(4, 4)

    def forward(self, x):
        y = self.lin(x) * self.k
        return y + 1 if self.flag else y


def test_jit_trace_freezes_python_values_as_pytorch_documents():
    s = [2.0]

    def f(x):
        return x * s[0]

    traced = kiln.jit.trace(f, (kiln.ones(3),))
    s[0] = 5.0  # after tracing: PyTorch's traced graph holds 2.0 as a constant
    _close(traced(kiln.ones(3)), kiln.full((3,), 2.0))

    m = _Scaled().eval()
    x = kiln.ones(2, 4)
    expected = m(x)
    t = kiln.jit.trace(m, (x,))
    m.k = 5.0
    m.flag = False
    _close(t(x), expected)  # attributes: constants
    with kiln.no_grad():
        m.lin.weight.mul_(2)  # parameters are shared: in-place updates are seen
    m.k, m.flag = 2.0, True
    _close(t(x), m(x))
    m.lin = knn.Linear(4, 4)  # the traced module keeps its own submodule
    with kiln.no_grad():
        m.k, m.flag = 2.0, True
    assert not np.allclose(_np(t(x)), _np(m(x)))


def test_jit_script_module_keeps_its_own_attributes_as_pytorch():
    m = _Scaled().eval()
    x = kiln.ones(2, 4)
    s = kiln.jit.script(m)
    base = m(x)
    _close(s(x), base)
    m.k = 5.0  # the original's attribute: PyTorch's ScriptModule holds a copy
    _close(s(x), base)
    s.k = 7.0  # the scripted module's own: seen on the next call
    assert s.k == 7.0 and m.k == 5.0
    m.k = 7.0
    _close(s(x), m(x))
    s.flag = False
    m.flag = False
    _close(s(x), m(x))
    s.train()
    assert s.training and not m.training


# ------------------------------------------------------------------------------ side effects


def _counting(T):
    n = 0

    def f(x):
        nonlocal n
        n += 1
        return x * n

    return f


def test_a_refused_side_effect_is_undone_and_the_call_runs_eagerly():
    """``nonlocal n; n += 1``: kiln refuses the side effect, puts ``n`` back, and
    kiln.compile runs the call eagerly, so the count is what torch.compile's is."""
    results = []
    for T, compile_ in ((kiln, kiln.compile), (torch, torch_compile)):
        if T is torch:
            torch._dynamo.reset()
        c = compile_(_counting(T))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results.append([_np(c(_x(T))) for _ in range(3)])
    _close(results[0], results[1])
    _close(results[0], [_np(_x(kiln)) * k for k in (1, 2, 3)])


def test_print_inside_compile_prints_on_every_call_as_torch(capsys):
    def make(T):
        def f(x):
            print("value", x.sum().tolist() if False else "step")
            return x + 1

        return f

    c = kiln.compile(make(kiln))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(3):
            _close(c(_x(kiln)), _x(kiln) + 1)
    assert capsys.readouterr().out.count("value step") == 3
    j = kiln.jit(make(kiln))  # kiln.jit: printed once, when traced (as jax.jit)
    for _ in range(3):
        j(_x(kiln))
    assert capsys.readouterr().out.count("value step") == 1


def test_printing_a_traced_tensor_under_compile_prints_values():
    def f(x):
        print(f"x = {x}")
        return x * 2

    c = kiln.compile(f)
    with pytest.warns(UserWarning, match="runs eagerly"):
        out = c(_x(kiln))
    _close(out, _x(kiln) * 2)
    with pytest.raises(TraceError, match="printing or formatting"):
        kiln.compile(f, fullgraph=True)(_x(kiln))


def test_a_print_only_in_a_branch_not_taken_does_not_retrace():
    def f(x, verbose=False):
        if verbose:
            print("never")
        return x + 1

    c = kiln.compile(f)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            c(_x(kiln))
    assert c.jitted.trace_count == 1


@pytest.mark.parametrize("which", [0, 1])
def test_overlapping_views_updated_in_place_run_eagerly(which):
    def f(a, b):
        (a, b)[which].add_(1)
        return a * 2 + b

    c = kiln.compile(f)
    c(kiln.zeros(2), kiln.zeros(2))
    base, ref = kiln.zeros(3), kiln.zeros(3)
    with pytest.warns(UserWarning, match="sharing memory"):
        out = c(base[0:2], base[1:3])
    _close(out, f(ref[0:2], ref[1:3]))
    _close(base, ref)
    with pytest.raises(TraceError, match="sharing memory"):
        kiln.jit(f)(base[0:2], base[1:3])
    same = kiln.zeros(2)  # the same tensor twice is traced as one: compiled
    same_ref = kiln.zeros(2)
    _close(c(same, same), f(same_ref, same_ref))
    _close(same, same_ref)
