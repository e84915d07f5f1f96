"""The ``__torch_function__`` protocol (kiln.overrides) against PyTorch 2.13: the Extending
PyTorch notes' ScalarTensor duck type, a logging Tensor subclass on a small model's forward
and backward, modes, the priority rules, errors, and what the protocol leaves alone (zero
cost when unused, kiln.jit, kiln.fx, autograd).

Each scenario is one function ``run(torch)`` executed with real torch and with kiln; what
it returns must agree.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

import kiln
from kiln import overrides, overrides_install

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _protocol_removed_afterwards():
    """Each test's classes are collected afterwards: the protocol is uninstalled again,
    so that the other test files run kiln's functions as they are."""
    yield
    gc.collect()
    overrides_install._release()
    assert not overrides_install._INSTALLED[0]


def _both(run):
    return run(torch), run(kiln)


def _scalar_tensor(lib):
    """The notes' example: a duck type with an @implements table."""
    handled = {}

    class ScalarTensor:
        def __init__(self, n, value):
            self._N, self._value = n, value

        def tensor(self):
            return self._value * lib.eye(self._N)

        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            if func not in handled or not all(
                issubclass(t, (lib.Tensor, ScalarTensor)) for t in types
            ):
                return NotImplemented
            return handled[func](*args, **kwargs)

    def implements(fn):
        def decorate(impl):
            handled[fn] = impl
            return impl

        return decorate

    @implements(lib.mean)
    def mean(x):
        return float(x._value) / x._N

    @implements(lib.add)
    def add(x, y):
        if isinstance(y, ScalarTensor):
            return ScalarTensor(x._N, x._value + y._value)
        return lib.add(x.tensor(), y)

    return ScalarTensor


def test_scalar_tensor_duck_type():
    def run(lib):
        ScalarTensor = _scalar_tensor(lib)
        d = ScalarTensor(5, 2)
        out = [lib.mean(d), lib.add(d, d)._value, lib.add(d, lib.ones(5, 5)).tolist()]
        with pytest.raises(TypeError) as info:
            lib.exp(d)
        out.append(str(info.value).split("\n\n")[0].replace("torch.", "kiln."))
        out.append(lib.overrides.is_tensor_like(d))
        out.append(lib.overrides.has_torch_function((1, d)))
        with pytest.raises(TypeError) as info:
            lib.nn.functional.relu(d)  # (a Python function in PyTorch: the other message)
        out.append(str(info.value).replace("torch.", "kiln."))
        return out

    assert not overrides_install._INSTALLED[0]  # the duck type's class statement installs it
    assert run(kiln) == run(torch)


def _logged(lib, seen):
    class Logged(lib.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            seen.append(func.__name__)
            return super().__torch_function__(func, types, args, kwargs)

    return Logged


def test_logging_subclass_on_a_model_forward_and_backward():
    def run(lib):
        seen = []
        Logged = _logged(lib, seen)
        lin1, lin2 = lib.nn.Linear(3, 4), lib.nn.Linear(4, 2)
        values = [np.linspace(-1, 1, 12).reshape(4, 3), np.linspace(0, 1, 4)]
        values += [np.linspace(-1, 1, 8).reshape(2, 4), np.linspace(0, 1, 2)]
        with lib.no_grad():
            for p, v in zip([*lin1.parameters(), *lin2.parameters()], values):
                p.copy_(lib.tensor(v, dtype=lib.float32))
        x = lib.tensor(np.linspace(-2, 2, 6).reshape(2, 3), dtype=lib.float32)
        x = x.as_subclass(Logged).requires_grad_()
        out = lin2(lib.nn.functional.relu(lin1(x)))
        loss = lib.nn.functional.mse_loss(out, lib.zeros(2, 2))
        loss.backward()
        x.grad  # noqa: B018  (a property getter: ``__get__``)
        return (
            list(seen),
            [type(t).__name__ for t in (out, loss, x.grad, lin1.weight.grad)],
            np.asarray(x.grad.tolist()),
            np.asarray(lin1.weight.grad.tolist()),
            out.grad_fn.name(),
        )

    t, k = _both(run)
    assert k[:2] == t[:2]
    np.testing.assert_allclose(k[2], t[2], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(k[3], t[3], rtol=1e-5, atol=1e-6)
    assert k[4] == t[4]  # AliasBackward0: the conversion is an alias, as PyTorch's


def test_results_keep_the_subclass_and_operators_report_their_methods():
    def run(lib):
        seen = []
        Logged = _logged(lib, seen)

        class Plain(lib.Tensor):  # the default __torch_function__: results converted
            pass

        rows = []
        x = lib.tensor([[1.0, -2.0], [3.0, 4.0]])
        for cls in (Logged, Plain):
            s = x.as_subclass(cls)
            results = {
                "add": lib.add(s, 1),
                "radd": 1 + s,
                "rsub": 1 - s,
                "rdiv": 2 / s,
                "eq": s == 1,
                "ne": s != 1,
                "neg": -s,
                "pow": s**2,
                "getitem": s[0],
                "sum": s.sum(),
                "relu": lib.nn.functional.relu(s),
                "cat": lib.cat([x, s]),
                "max": lib.max(s, 0),
                "max.values": s.max(0).values,
                "detach": s.detach(),
                "mixed": x * s,
                "split": s.split(1),
                "shape": s.shape,
                "tolist": s.tolist(),
                "make_subclass": lib.Tensor._make_subclass(cls, x),
            }
            for key, value in results.items():
                shown = [type(v).__name__ for v in value] if isinstance(value, tuple) else None
                rows.append((cls.__name__, key, type(value).__name__, shown))
        iadd = x.clone().as_subclass(Logged)
        seen.clear()
        iadd += 1
        iadd[0] = 5.0
        bool(iadd[1, 1] > 0)
        len(iadd)
        rows.append(tuple(seen))
        return rows

    t, k = _both(run)
    assert k == t


def test_func_is_the_public_object():
    def run(lib):
        got = []

        class Check(lib.Tensor):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                got.append(
                    (
                        func.__name__,
                        func is lib.add,
                        func is lib.Tensor.add,
                        func == lib.Tensor.shape.__get__,
                        func is lib.nn.functional.relu,
                        tuple(t.__name__ for t in types),
                        sorted(kwargs or {}),
                    )
                )
                return super().__torch_function__(func, types, args, kwargs)

        c = lib.ones(2).as_subclass(Check)
        lib.add(c, 1, alpha=2)
        c + 1
        c.add(1)
        c.shape  # noqa: B018
        lib.nn.functional.relu(c)
        lib.add(lib.ones(2), c)
        return got

    t, k = _both(run)
    assert k == t


def test_priority_subclass_first_then_left_to_right_and_not_implemented():
    def run(lib):
        log = []

        def override(tag, answer):
            @classmethod
            def __torch_function__(cls, func, types, args=(), kwargs=None):
                log.append((tag, tuple(t.__name__ for t in types)))
                return answer

            return __torch_function__

        A = type("A", (lib.Tensor,), {"__torch_function__": override("A", NotImplemented)})
        B = type("B", (A,), {"__torch_function__": override("B", NotImplemented)})
        C = type("C", (lib.Tensor,), {"__torch_function__": override("C", "from C")})
        a, b, c = (lib.ones(1).as_subclass(k) for k in (A, B, C))
        out = []
        for call in (
            lambda: lib.add(a, b),  # B (the subclass) before A, both NotImplemented
            lambda: lib.add(a, c),  # left to right: A declines, C answers
            lambda: lib.cat([c, b, a]),
            lambda: lib.stack([a, a, b]),  # one entry per type
            lambda: a.sum(),
        ):
            try:
                out.append(call())
            except TypeError as exc:
                out.append(str(exc).split("\n\nFor more")[0].replace("torch.", "kiln."))
            out.append(list(log))
            log.clear()
        return out

    t, k = _both(run)
    assert k == t


def test_modes_nest_and_see_every_call():
    def run(lib):
        class Count(lib.overrides.TorchFunctionMode):
            def __init__(self, tag, log):
                self.tag, self.log = tag, log

            def __torch_function__(self, func, types, args=(), kwargs=None):
                self.log.append((self.tag, func.__name__, tuple(t.__name__ for t in types)))
                return func(*args, **(kwargs or {}))

        class Twice(lib.overrides.TorchFunctionMode):  # a mode that changes results
            def __torch_function__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                return out * 2 if func is lib.add else out

        log = []
        lib.manual_seed(0)
        lin = lib.nn.Linear(3, 2)
        x = lib.ones(2, 3)
        with Count("outer", log):
            with Count("inner", log):
                lin(x).sum()
            lib.cat([x, x]).mean(0)
            x + 1
            x.shape  # noqa: B018
            lib.zeros(2)
            with lib._C.DisableTorchFunction():
                x * 3  # unseen
            with lib._C.DisableTorchFunctionSubclass():
                x * 4  # modes still see it
        with Twice():
            doubled = lib.add(x, 1).tolist()
        namespaces = []

        class Which(lib.overrides.TorchFunctionMode):  # linalg, fft, special, methods
            def __torch_function__(self, func, types, args=(), kwargs=None):
                publics = (lib.linalg.norm, lib.fft.fft, lib.special.erf, lib.Tensor.view)
                namespaces.append(tuple(func is f for f in publics))
                return func(*args, **(kwargs or {}))

        with Which():
            lib.linalg.norm(x), lib.fft.fft(x), lib.special.erf(x), x.view(6)
            lib.nn.functional.cross_entropy(x, lib.tensor([0, 2]))  # (one call: no inner ones)
        return log, doubled, namespaces, lib.overrides._get_current_function_mode()

    t, k = _both(run)
    assert k == t


def test_disable_switches_and_helpers():
    def run(lib):
        class Sub(lib.Tensor):
            pass

        s = lib.ones(2).as_subclass(Sub)
        out = [lib.overrides.has_torch_function((s,)), lib.overrides.has_torch_function((1,))]
        out.append(lib.overrides.has_torch_function((lib.nn.Parameter(lib.ones(1)),)))
        out.append(lib.overrides.is_tensor_like(s))
        out.append(lib.overrides.is_tensor_like(1))
        with lib._C.DisableTorchFunctionSubclass():
            out += [type(s + 1).__name__, lib.overrides.has_torch_function((s,))]
        with lib._C.DisableTorchFunction():
            out.append(type(lib.add(s, 1)).__name__)
        out.append(type(s + 1).__name__)
        p = lib.nn.Parameter(lib.ones(2))
        out.append(type(p + 1).__name__)  # _disabled_torch_function_impl: a plain result
        overridable = lib.overrides.get_overridable_functions()
        out.append(lib.add in overridable[lib])
        out.append(lib.nn.functional.relu in overridable[lib.nn.functional])
        out.append(lib.Tensor.add in overridable[lib.Tensor])
        ignored = lib.overrides.get_ignored_functions()
        out += [lib.zeros in ignored, lib.add in ignored, lib.tensor in ignored]
        return out

    t, k = _both(run)
    assert k == t


def test_protocol_is_installed_only_while_needed():
    add_code = kiln.add.__code__
    getitem = kiln.Tensor.__getitem__
    assert not overrides_install._INSTALLED[0]

    class Internal(kiln.nn.Parameter):  # an opted-out class: nothing installed
        pass

    assert not overrides_install._INSTALLED[0]

    class Through(overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    with Through():
        assert overrides_install._INSTALLED[0] and kiln.add.__code__ is not add_code
        assert kiln.add(kiln.ones(1), 1).tolist() == [2.0]
    assert not overrides_install._INSTALLED[0] and kiln.add.__code__ is add_code

    class Sub(kiln.Tensor):
        pass

    assert overrides_install._INSTALLED[0]
    from kiln import add as captured  # a reference taken before: the same object

    assert captured is kiln.add and type(captured(Sub(kiln.ones(1)), 1)) is Sub
    del Sub
    gc.collect()  # the class is gone: the next covered call removes the protocol
    assert overrides_install._INSTALLED[0] and kiln.add(kiln.ones(1), 1).tolist() == [2.0]
    assert not overrides_install._INSTALLED[0]
    assert kiln.add.__code__ is add_code and kiln.Tensor.__getitem__ is getitem


def test_jit_refuses_overrides_and_fx_still_records():
    seen = []
    Logged = _logged(kiln, seen)
    w = kiln.ones(2).as_subclass(Logged)
    with pytest.raises(kiln.TraceError, match="Logged"):
        kiln.jit(lambda x: x * w)(kiln.ones(2))
    with pytest.raises(kiln.TraceError, match="Logged"):
        kiln.jit(lambda x: x * 2)(w)

    class Mode(overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    f = kiln.jit(lambda x: x * 3)
    assert f(kiln.ones(2)).tolist() == [3.0, 3.0]  # compiled before the mode: ...
    with Mode(), pytest.raises(kiln.TraceError, match="TorchFunctionMode"):
        f(kiln.ones(2))  # ... its variant does not run unseen by the mode
    assert f(kiln.ones(2)).tolist() == [3.0, 3.0]

    class Count(overrides.TorchFunctionMode):
        names: list = []

        def __torch_function__(self, func, types, args=(), kwargs=None):
            self.names.append(func.__name__)
            return func(*args, **(kwargs or {}))

    c = kiln.compile(lambda x: x * 3)
    c(kiln.ones(2))
    with Count(), pytest.warns(UserWarning, match="runs eagerly"):
        assert c(kiln.ones(2)).tolist() == [3.0, 3.0]  # eagerly: the mode sees the op
    assert "mul" in Count.names

    def g(x):
        return kiln.relu(x) + 1

    gm = kiln.fx.symbolic_trace(g)
    assert [n.target for n in gm.graph.nodes if n.op == "call_function"][0] is kiln.relu
    seen.clear()
    out = gm(w)
    assert type(out) is Logged and seen == ["relu", "add"]


def test_modes_and_switches_are_per_thread():
    import threading

    def run(lib):
        seen = []

        class Count(lib.overrides.TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                seen.append((threading.current_thread().name, func.__name__))
                return func(*args, **(kwargs or {}))

        x = lib.ones(2)
        other = threading.Thread(target=lambda: x.sum(), name="other")
        with Count():
            other.start()
            other.join()
            x.mean()
        return seen

    t, k = _both(run)
    assert k == t == [("MainThread", "mean")]


def test_subclass_with_its_own_new():
    """The notes' pattern: ``super().__new__(cls, data)`` in a subclass's ``__new__``."""

    def run(lib):
        class Tagged(lib.Tensor):
            @staticmethod
            def __new__(cls, data, tag):
                return super().__new__(cls, data)

            def __init__(self, data, tag):
                self.tag = tag

        class Bare(lib.Tensor):  # no __init__: the constructor's arguments are ignored
            @staticmethod
            def __new__(cls, data, scale):
                return super().__new__(cls, data * scale)

        t = Tagged(lib.tensor([1.0, 2.0]), "a")
        b = Bare(lib.tensor([1.0, 2.0]), 3)
        p = lib.nn.Parameter(lib.ones(2), False)  # (other constructors are unchanged)
        return [
            (type(t + 1).__name__, t.tag, (t + 1).tolist()),
            (type(b).__name__, b.tolist(), type(b.sum()).__name__),
            (type(p).__name__, p.requires_grad, lib.Tensor(2, 3).shape == (2, 3)),
        ]

    t, k = _both(run)
    assert k == t
