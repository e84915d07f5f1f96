"""Stale-trace probes, round three: a traced tensor's metadata (strides, contiguity,
storage offset) and what a PyTorch user changes between two calls of a compiled function.

The pattern is tests/test_stale19.py's: each probe is written once against a ``torch``-like
module ``T`` and runs on kiln (``kiln.compile(fullgraph=True)``, so a probe cannot pass by
falling back to eager, and ``kiln.jit``) and returns ``(compiled results, eager results)``;
a probe marked ``torch_too`` runs on PyTorch as well (``torch.compile(backend="eager")``),
which must agree with its own eager result there. Cases where kiln cannot trace and falls
back to eager (``kiln.compile``) or refuses (``kiln.jit``) are tests of their own below.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import warnings

import numpy as np
import pytest

import kiln
from kiln.compiler.errors import TraceError
from kiln.jit import config

torch = pytest.importorskip("torch")

from _stale_probes import Probes  # noqa: E402
from _stale_probes import twice as _twice  # noqa: E402
from _stale_probes import x_of as _x  # noqa: E402

PROBES = Probes(torch_too=False)
probe = PROBES.probe


def torch_compile(fn):
    return torch.compile(fn, backend="eager")


def _m(T, rows=3, cols=4):
    return T.arange(float(rows * cols)).reshape(rows, cols)


# ------------------------------------------------------------------------------ layout


@probe(torch_too=True)
def transpose_is_contiguous_branch(T, compile):
    def f(x):
        y = x.t()
        return y * (2.0 if y.is_contiguous() else 3.0)

    return _twice(T, compile, f, (_m(T),), (_m(T, 4, 4),))


@probe(torch_too=True)
def permute_strides_used_as_numbers(T, compile):
    def f(x):
        y = x.permute(2, 0, 1)
        return y * y.stride(0) + y.stride(2)

    x = T.arange(24.0).reshape(2, 3, 4)
    return _twice(T, compile, f, (x,), (x.clone(),))


@probe(torch_too=True)
def slice_storage_offset(T, compile):
    def f(x):
        y = x[:, 1:]
        return y + y.storage_offset() + y.stride(0)

    return _twice(T, compile, f, (_m(T),))


@probe(torch_too=True)
def step_slice_strides(T, compile):
    def f(x):
        y = x[::2, ::2]
        return y * (1.0 if y.is_contiguous() else -1.0) + y.stride(0)

    return _twice(T, compile, f, (_m(T, 4, 4),))


@probe(torch_too=True)
def expand_has_zero_strides(T, compile):
    def f(x):
        y = x.unsqueeze(0).expand(2, 3, 4)
        return y * (5.0 if 0 in y.stride() else 7.0)

    return _twice(T, compile, f, (_m(T),))


@probe(torch_too=True)
def narrow_offset(T, compile):
    def f(x):
        y = x.narrow(1, 1, 2)
        return y * y.storage_offset() + (0.0 if y.is_contiguous() else 1.0)

    return _twice(T, compile, f, (_m(T),))


@probe(torch_too=True)
def diagonal_stride(T, compile):
    def f(x):
        d = x.diagonal()
        return d * d.stride(0)

    return _twice(T, compile, f, (_m(T, 4, 4),))


@probe()
def diagonal_with_offset_storage_offset(T, compile):
    def f(x):
        d = x.diagonal(1)
        return d + d.storage_offset()

    return _twice(T, compile, f, (_m(T, 4, 4),))


@probe(torch_too=True)
def unfold_strides(T, compile):
    def f(x):
        w = x.unfold(1, 2, 1)
        return w.sum(-1) * sum(w.stride())

    return _twice(T, compile, f, (_m(T),))


@probe(torch_too=True)
def as_strided_of_a_transposed_input(T, compile):
    def f(x):
        return x.t().as_strided((2, 2), (1, 3), 1) * 1.0

    return _twice(T, compile, f, (_m(T),))


@probe()
def as_strided_default_offset_of_a_slice(T, compile):
    def f(x):
        return x[1:].as_strided((2,), (2,)) * 1.0

    return _twice(T, compile, f, (_m(T),))


@probe(torch_too=True)
def select_storage_offset(T, compile):
    def f(x):
        r = x.select(1, 2)
        return r + r.storage_offset() * 10

    return _twice(T, compile, f, (_m(T),))


@probe()
def unbind_offsets(T, compile):
    def f(x):
        return [p + p.storage_offset() for p in x.unbind(1)]

    return _twice(T, compile, f, (_m(T),))


@probe(torch_too=True)
def elementwise_keeps_the_transposed_layout(T, compile):
    def f(x):
        y = x.t() * 2
        return y + (1.0 if y.is_contiguous() else 0.0) + y.stride(1)

    return _twice(T, compile, f, (_m(T),))


@probe(torch_too=True)
def clone_preserves_contiguous_makes_dense(T, compile):
    def f(x):
        a = x.t().clone()
        b = x.t().contiguous()
        return a * a.stride(0) + b * b.stride(0)

    return _twice(T, compile, f, (_m(T),))


@probe()
def contiguous_of_a_contiguous_view_is_itself(T, compile):
    def f(x):
        y = x[1:]
        z = y.contiguous()
        return z * z.storage_offset()

    return _twice(T, compile, f, (_m(T),))


@probe(torch_too=True)
def channels_last_in_the_function(T, compile):
    def f(x):
        y = x.contiguous(memory_format=T.channels_last)
        a = 2.0 if y.is_contiguous(memory_format=T.channels_last) else 3.0
        b = 5.0 if y.is_contiguous() else 7.0
        return y * a + b

    x = T.arange(24.0).reshape(1, 2, 3, 4)
    return _twice(T, compile, f, (x,))


@probe(torch_too=True)
def channels_last_input_then_contiguous_input(T, compile):
    def f(x):
        return x * (2.0 if x.is_contiguous(memory_format=T.channels_last) else 3.0)

    x = T.arange(24.0).reshape(1, 2, 3, 4)
    return _twice(T, compile, f, (x,), (x.contiguous(memory_format=T.channels_last),), (x,))


@probe()
def empty_like_of_a_transposed_tensor(T, compile):
    def f(x):
        z = T.zeros_like(x.t())
        return z + z.stride(0)

    return _twice(T, compile, f, (_m(T),))


@probe()
def unsqueeze_of_a_transpose(T, compile):
    def f(x):
        y = x.t().unsqueeze(0)
        return y * y.stride(0) + y.stride(1)

    return _twice(T, compile, f, (_m(T),))


@probe()
def reshape_of_a_transpose_copies(T, compile):
    def f(x):
        y = x.t().reshape(2, 6)
        return y * (1.0 if y.is_contiguous() else 9.0)

    return _twice(T, compile, f, (_m(T),))


@probe()
def detach_keeps_strides(T, compile):
    def f(x):
        y = x.t().detach()
        return y * y.stride(0)

    return _twice(T, compile, f, (_m(T),))


@probe()
def in_place_update_keeps_view_strides(T, compile):
    def f(x):
        y = x.clone()[1:, ::2]
        y.add_(1)
        return y * y.stride(1) + y.storage_offset()

    return _twice(T, compile, f, (_m(T),))


@probe()
def in_place_transpose_of_a_clone(T, compile):
    def f(x):
        y = x.clone()
        y.t_()
        return y * (1.0 if y.is_contiguous() else 4.0)

    return _twice(T, compile, f, (_m(T),))


@probe()
def matrix_transpose_of_a_batch(T, compile):
    def f(x):
        y = x.mT
        return y * y.stride(-1)

    x = T.arange(24.0).reshape(2, 3, 4)
    return _twice(T, compile, f, (x,))


@probe()
def argument_storage_offset_changes(T, compile):
    def f(x):
        return x * (2.0 if x.storage_offset() > 0 else 3.0) + x.storage_offset()

    base = T.arange(12.0)
    return _twice(T, compile, f, (base[0:4],), (base[4:8],), (base[0:4],), (base[2:6],))


@probe(torch_too=True)
def argument_transposed_then_not(T, compile):
    def f(x):
        return x * (1.0 if x.is_contiguous() else 2.0) + x.stride(0)

    x = _m(T, 3, 3)
    return _twice(T, compile, f, (x,), (x.t(),), (x,))


# ------------------------------------------------------------------------------ modules


class _Scaled:
    @staticmethod
    def make(T, k=2.0):
        class Scaled(T.nn.Module):
            def __init__(self):
                super().__init__()
                self.k = k
                self.lin = T.nn.Linear(3, 3)

            def forward(self, x):
                return self.lin(x) * self.k

        T.manual_seed(0)
        return Scaled()


def _after(T, compile, m, change, x=None):
    x = _x(T).reshape(1, 3) if x is None else x
    c = compile(m)
    with T.no_grad():
        first = c(x)
        change(m)
        return [first, c(x)], [first, m(x)]


@probe(torch_too=True)
def module_dunder_dict_item_set(T, compile):
    return _after(T, compile, _Scaled.make(T), lambda m: m.__dict__.__setitem__("k", 5.0))


@probe(torch_too=True)
def module_object_setattr(T, compile):
    return _after(T, compile, _Scaled.make(T), lambda m: object.__setattr__(m, "k", 7.0))


@probe(torch_too=True)
def module_vars_item_set(T, compile):
    def change(m):
        vars(m)["k"] = 9.0

    return _after(T, compile, _Scaled.make(T), change)


@probe()
def module_dunder_dict_update(T, compile):
    return _after(T, compile, _Scaled.make(T), lambda m: m.__dict__.update(k=11.0))


@probe()
def parameter_shadowed_through_dunder_dict(T, compile):
    def change(m):
        m.lin.__dict__["weight"] = T.nn.Parameter(T.ones(3, 3))

    return _after(T, compile, _Scaled.make(T), change)


@probe()
def parameter_shadowed_through_object_setattr(T, compile):
    def change(m):
        object.__setattr__(m.lin, "bias", T.nn.Parameter(T.full((3,), 4.0)))

    return _after(T, compile, _Scaled.make(T), change)


@probe()
def parameter_replaced_in_the_registry(T, compile):
    def change(m):
        m.lin._parameters["weight"] = T.nn.Parameter(T.full((3, 3), 0.5))

    return _after(T, compile, _Scaled.make(T), change)


@probe(torch_too=True)
def parameter_data_copied_in_place(T, compile):
    def change(m):
        m.lin.weight.data.copy_(T.full((3, 3), 0.25))

    return _after(T, compile, _Scaled.make(T), change)


@probe()
def parameter_data_rebound(T, compile):
    def change(m):
        m.lin.weight.data = T.full((3, 3), 0.75)

    return _after(T, compile, _Scaled.make(T), change)


@probe()
def model_converted_to_half(T, compile):
    m = _Scaled.make(T)
    c = compile(m)
    x = _x(T).reshape(1, 3)
    with T.no_grad():
        first = c(x)
        m.half()
        xh = x.half()
        return [first, c(xh).float()], [first, m(xh).float()]


@probe()
def model_load_state_dict_of_a_submodule(T, compile):
    def change(m):
        m.lin.load_state_dict({"weight": T.full((3, 3), 2.0), "bias": T.zeros(3)})

    return _after(T, compile, _Scaled.make(T), change)


@probe(torch_too=True)
def weight_tying_after_compile(T, compile):
    class Two(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = T.nn.Linear(3, 3, bias=False)
            self.b = T.nn.Linear(3, 3, bias=False)

        def forward(self, x):
            return self.b(self.a(x))

    T.manual_seed(1)

    def tie(m):
        m.b.weight = m.a.weight

    return _after(T, compile, Two(), tie)


@probe(torch_too=True)
def forward_hook_removed_by_its_handle(T, compile):
    m = _Scaled.make(T)
    handle = m.lin.register_forward_hook(lambda mod, inp, out: out * 10)
    return _after(T, compile, m, lambda _: handle.remove())


@probe(torch_too=True)
def forward_pre_hook_removed_by_its_handle(T, compile):
    m = _Scaled.make(T)
    handle = m.register_forward_pre_hook(lambda mod, inp: (inp[0] + 1,))
    return _after(T, compile, m, lambda _: handle.remove())


def _seq(T):
    T.manual_seed(2)
    return T.nn.Sequential(T.nn.Linear(3, 3), T.nn.ReLU(), T.nn.Linear(3, 3))


@probe(torch_too=True)
def sequential_item_replaced(T, compile):
    def change(seq):
        T.manual_seed(3)
        seq[0] = T.nn.Linear(3, 3)

    return _after(T, compile, _seq(T), change)


@probe(torch_too=True)
def sequential_item_deleted(T, compile):
    def change(seq):
        del seq[1]

    x = T.tensor([[1.0, -2.0, 3.0]])
    return _after(T, compile, _seq(T), change, x)


@probe(torch_too=True)
def sequential_appended(T, compile):
    return _after(T, compile, _seq(T), lambda seq: seq.append(T.nn.Tanh()))


@probe()
def module_list_inserted(T, compile):
    class L(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = T.nn.ModuleList([T.nn.Linear(3, 3)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    T.manual_seed(4)
    return _after(T, compile, L(), lambda m: m.layers.insert(0, T.nn.Sigmoid()))


@probe(torch_too=True)
def module_dict_entry_replaced(T, compile):
    class D(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.heads = T.nn.ModuleDict({"a": T.nn.ReLU(), "b": T.nn.Tanh()})

        def forward(self, x):
            return self.heads["a"](x) + self.heads["b"](x)

    def change(m):
        m.heads["a"] = T.nn.Sigmoid()

    return _after(T, compile, D(), change)


@probe()
def children_loop_after_register_module(T, compile):
    class C(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.first = T.nn.ReLU()

        def forward(self, x):
            for child in self.children():
                x = child(x)
            return x

    return _after(T, compile, C(), lambda m: m.register_module("second", T.nn.Tanh()))


@probe()
def module_attribute_deleted_back_to_the_class_default(T, compile):
    class K(T.nn.Module):
        k = 2.0

        def forward(self, x):
            return x * self.k

    m = K()
    m.k = 5.0

    def change(mod):
        del mod.k

    return _after(T, compile, m, change)


@probe()
def bound_method_compiled_instance_attribute(T, compile):
    class Scaler:
        def __init__(self):
            self.k = 2.0

        def run(self, x):
            return x * self.k

    s = Scaler()
    c = compile(s.run)
    first = c(_x(T))
    s.k = 4.0
    return [first, c(_x(T))], [_x(T) * 2.0, s.run(_x(T))]


# ------------------------------------------------------------------------------ arguments


@probe()
def numpy_array_argument_mutated_in_place(T, compile):
    def f(x, a):
        return x * float(a[0])

    a = np.array([2.0])
    c = compile(f)
    first = c(_x(T), a)
    a[0] = 5.0
    return [first, c(_x(T), a)], [_x(T) * 2.0, f(_x(T), a)]


@probe()
def numpy_scalar_argument_changes(T, compile):
    def f(x, s):
        return x * float(s)

    return _twice(T, compile, f, (_x(T), np.float32(2.0)), (_x(T), np.float32(3.0)))


@probe(torch_too=True)
def zero_dim_tensor_argument_changes(T, compile):
    def f(x, s):
        return x * s

    return _twice(T, compile, f, (_x(T), T.tensor(2.0)), (_x(T), T.tensor(-3.0)))


@probe(torch_too=True)
def kwargs_gain_a_key(T, compile):
    def f(x, **kw):
        out = x
        for name, v in kw.items():
            out = out * v if name == "a" else out + v
        return out

    c = compile(f)
    args = [dict(a=2.0), dict(a=2.0, b=3.0), dict(b=1.0)]
    return [c(_x(T), **kw) for kw in args], [f(_x(T), **kw) for kw in args]


@probe(torch_too=True)
def frozen_dataclass_replaced(T, compile):
    @dataclasses.dataclass(frozen=True)
    class Cfg:
        scale: float
        shift: float

    def f(x, cfg):
        return x * cfg.scale + cfg.shift

    a = Cfg(2.0, 1.0)
    return _twice(T, compile, f, (_x(T), a), (_x(T), dataclasses.replace(a, shift=5.0)))


@probe(torch_too=True)
def namedtuple_with_a_tensor_field_changed(T, compile):
    Pair = collections.namedtuple("Pair", "w b")

    def f(x, p):
        return x * p.w + p.b

    return _twice(
        T, compile, f, (_x(T), Pair(T.ones(3), 1.0)), (_x(T), Pair(T.full((3,), 2.0), 3.0))
    )


@probe()
def int_argument_becomes_float(T, compile):
    def f(x, n):
        return x * n

    return _twice(T, compile, f, (_x(T), 2), (_x(T), 2.5), (_x(T), 3))


@probe()
def bool_argument_as_a_flag(T, compile):
    def f(x, neg):
        return -x if neg else x * 2

    return _twice(T, compile, f, (_x(T), True), (_x(T), False))


@probe()
def none_default_then_tensor(T, compile):
    def f(x, bias=None):
        return x if bias is None else x + bias

    c = compile(f)
    return [c(_x(T)), c(_x(T), T.ones(3)), c(_x(T))], [_x(T), _x(T) + 1, _x(T)]


@probe(torch_too=True)
def shape_formatted_into_a_lookup_key(T, compile):
    table = {"(3,)": 2.0, "(2, 3)": 5.0}

    def f(x):
        return x * table[str(tuple(x.shape))]

    c = compile(f)
    out = [c(_x(T))]
    table["(3,)"] = 7.0
    out.append(c(_x(T)))
    return out, [_x(T) * 2.0, f(_x(T))]


@probe(torch_too=True)
def generator_expression_over_a_mutated_list(T, compile):
    weights = [1.0, 2.0]

    def f(x):
        return sum(x * w for w in weights)

    c = compile(f)
    first = c(_x(T))
    weights.append(4.0)
    return [first, c(_x(T))], [_x(T) * 3.0, f(_x(T))]


@probe()
def lru_cached_helper_cleared_and_recomputed(T, compile):
    cfg = type("Cfg", (), {"factor": 2.0})

    @functools.cache
    def factor():
        return cfg.factor

    def f(x):
        return x * factor()

    f(_x(T))  # the cache is warm before the trace: the trace never runs factor's body
    c = compile(f)
    first = c(_x(T))
    cfg.factor = 5.0
    factor.cache_clear()
    return [first, c(_x(T))], [_x(T) * 2.0, f(_x(T))]


@probe(torch_too=True)
def is_grad_enabled_read_inside(T, compile):
    def f(x):
        return x * (2.0 if T.is_grad_enabled() else 3.0)

    c = compile(f)
    first = c(_x(T))
    with T.no_grad():
        second = c(_x(T))
    return [first, second], [_x(T) * 2.0, _x(T) * 3.0]


@probe()
def exception_on_the_first_call_only(T, compile):
    cfg = type("Cfg", (), {"fail": True})

    def f(x):
        if cfg.fail:
            raise ValueError("not yet")
        return x * 2

    c = compile(f)
    results = []
    for fail in (True, False, True, False):
        cfg.fail = fail
        try:
            results.append(c(_x(T)))
        except ValueError:
            results.append(T.zeros(3))
    expected = [T.zeros(3), _x(T) * 2, T.zeros(3), _x(T) * 2]
    return results, expected


@probe()
def global_style_tensor_mutated_in_place_then_rebound(T, compile):
    holder = type("Holder", (), {})
    holder.w = T.ones(3)

    def f(x):
        return x * holder.w

    c = compile(f)
    out = [c(_x(T))]
    holder.w.add_(1)
    out.append(c(_x(T)))
    holder.w = T.full((3,), -1.0)
    out.append(c(_x(T)))
    return out, [_x(T), _x(T) * 2, -_x(T)]


@probe()
def generator_object_swapped(T, compile):
    def f(x, g):
        return x + T.rand(3, generator=g)

    c = compile(f)
    g1 = T.Generator().manual_seed(1)
    g2 = T.Generator().manual_seed(2)
    out = [c(_x(T), g1), c(_x(T), g2)]
    e1 = T.Generator().manual_seed(1)
    e2 = T.Generator().manual_seed(2)
    return out, [f(_x(T), e1), f(_x(T), e2)]


@probe()
def manual_seed_between_calls_with_dropout(T, compile):
    m = T.nn.Dropout(0.5)
    c = compile(m)
    x = T.ones(64)
    T.manual_seed(5)
    a = c(x)
    T.manual_seed(5)
    b = c(x)
    T.manual_seed(5)
    e = m(x)
    return [a, b], [e, e]


@probe()
def retain_grad_of_an_intermediate(T, compile):
    w = T.tensor([1.0, 2.0, 3.0], requires_grad=True)

    def f(x):
        y = x * w
        y.retain_grad()
        (y * y).sum().backward()
        return y.grad * 1.0

    c = compile(f)
    out = c(_x(T))
    w.grad = None
    return out, f(_x(T))


@probe()
def autocast_around_the_call(T, compile):
    def f(a, b):
        return a @ b

    a = T.arange(6.0).reshape(2, 3) / 7
    b = T.arange(6.0).reshape(3, 2) / 3
    c = compile(f)
    first = c(a, b)
    with T.autocast("cpu", dtype=T.bfloat16):
        inside = c(a, b)
        eager_inside = f(a, b)
    after = c(a, b)
    return [first, inside, after], [f(a, b), eager_inside, f(a, b)]


@probe()
def requires_grad_of_the_argument_changes(T, compile):
    def f(x):
        return x * (2.0 if x.requires_grad else 3.0)

    a = _x(T)
    b = _x(T).requires_grad_()
    return _twice(T, compile, f, (a,), (b,), (a,))


@probe(torch_too=True)
def captured_tensor_strides_changed_through_data(T, compile):
    w = T.ones(2, 3)

    def f(x):
        return x * (2.0 if w.t().is_contiguous() else 3.0)

    c = compile(f)
    first = c(T.ones(3, 2))
    w.data = T.ones(3, 2).t()
    return [first, c(T.ones(3, 2))], [T.full((3, 2), 3.0), f(T.ones(3, 2))]


@probe()
def parameter_stride_read_after_data_set_to_a_strided_view(T, compile):
    m = T.nn.Linear(3, 3)

    def f(x):
        return x * m.weight.stride(0)

    c = compile(f)
    with T.no_grad():
        first = c(_x(T))
        m.weight.data = T.ones(3, 6)[:, ::2]
        return [first, c(_x(T))], [_x(T) * 3, f(_x(T))]


@probe()
def captured_tensor_offset_changed_through_data(T, compile):
    base = T.arange(8.0)
    w = T.zeros(3)
    w.data = base[0:3]

    def f(x):
        return x + w.storage_offset()

    c = compile(f)
    first = c(_x(T))
    w.data = base[2:5]
    return [first, c(_x(T))], [_x(T), f(_x(T))]


@probe()  # (torch.compile fails here: its fake tensors raise ValueError, not RuntimeError)
def view_of_a_transpose_raises_as_eagerly(T, compile):
    def f(x):
        try:
            return x.t().view(-1) * 1.0
        except RuntimeError:
            return x.t().reshape(-1) * -1.0

    return _twice(T, compile, f, (_m(T, 2, 3),))


@probe()
def partial_argument_keywords_mutated(T, compile):
    def f(x, fn):
        return fn(x)

    part = functools.partial(lambda x, k: x * k, k=2.0)
    c = compile(f)
    first = c(_x(T), part)
    part.keywords["k"] = 5.0
    return [first, c(_x(T), part)], [_x(T) * 2, f(_x(T), part)]


@probe()
def partial_in_a_closure_keywords_mutated(T, compile):
    holder = type("Holder", (), {})
    holder.fn = functools.partial(lambda x, k: x + k, k=1.0)

    def f(x):
        return holder.fn(x)

    c = compile(f)
    first = c(_x(T))
    holder.fn.keywords["k"] = 4.0
    return [first, c(_x(T))], [_x(T) + 1, f(_x(T))]


@probe()
def buffer_replaced_in_the_registry_then_eval(T, compile):
    m = T.nn.BatchNorm1d(3)
    x = T.arange(12.0).reshape(4, 3)

    def change(mod):
        mod._buffers["running_mean"] = T.full((3,), 5.0)
        mod.eval()

    return _after(T, compile, m, change, x)


@probe()
def parameter_requires_grad_toggled_off(T, compile):
    m = T.nn.Linear(3, 2)
    return _after(T, compile, m, lambda mod: mod.weight.requires_grad_(False))


@probe()
def in_place_unsqueeze_of_a_clone(T, compile):
    def f(x):
        y = x.clone()
        y.unsqueeze_(0)
        return y * y.stride(0)

    return _twice(T, compile, f, (_m(T, 2, 3).t(),))


@probe()
def dim_order_of_the_argument(T, compile):
    def f(x):
        return x * x.dim_order()[0]

    x = _m(T, 2, 3)
    return _twice(T, compile, f, (x,), (x.t(),))


@probe()
def cast_of_a_transpose_keeps_its_layout(T, compile):
    def f(x):
        y = x.t().to(T.float64)
        return y * y.stride(0)

    return _twice(T, compile, f, (_m(T, 2, 3),))


@probe()
def softmax_of_a_transpose(T, compile):
    def f(x):
        y = x.T.softmax(-1)
        return y * y.stride(0)

    return _twice(T, compile, f, (_m(T, 3, 3),))


@probe()
def deque_read_whole_then_appended(T, compile):
    history = collections.deque([1.0, 2.0], maxlen=4)

    def f(x):
        return x * sum(history)

    c = compile(f)
    first = c(_x(T))
    history.append(5.0)
    return [first, c(_x(T))], [_x(T) * 3.0, f(_x(T))]


@probe()
def defaultdict_values_summed_then_changed(T, compile):
    weights = collections.defaultdict(float, a=1.0)

    def f(x):
        return x * sum(weights.values())

    c = compile(f)
    first = c(_x(T))
    weights["b"] += 2.0
    return [first, c(_x(T))], [_x(T), f(_x(T))]


@probe()
def counter_read_whole_then_updated(T, compile):
    counts = collections.Counter(a=1)

    def f(x):
        return x * len(counts) + counts["a"]

    c = compile(f)
    first = c(_x(T))
    counts.update(["b", "a"])
    return [first, c(_x(T))], [_x(T) + 1, f(_x(T))]


@probe()
def forward_replaced_through_the_instance_dict(T, compile):
    def change(m):
        m.__dict__["forward"] = lambda x: x * 100

    return _after(T, compile, _Scaled.make(T), change)


@probe()
def training_flag_set_through_the_instance_dict(T, compile):
    m = T.nn.Dropout(0.5)

    def change(mod):
        mod.__dict__["training"] = False

    return _after(T, compile, m, change, T.ones(1, 8))


@probe()
def layer_norm_eps_set_through_vars(T, compile):
    def change(m):
        vars(m)["eps"] = 10.0

    return _after(T, compile, T.nn.LayerNorm(3), change)


@probe(torch_too=True)
def forward_hooks_cleared(T, compile):
    m = _Scaled.make(T)
    m.register_forward_hook(lambda mod, inp, out: out * 3)
    return _after(T, compile, m, lambda mod: mod._forward_hooks.clear())


@probe()
def forward_hook_with_kwargs_removed(T, compile):
    m = _Scaled.make(T)
    handle = m.register_forward_hook(lambda mod, args, kwargs, out: out - 1, with_kwargs=True)
    return _after(T, compile, m, lambda _: handle.remove())


@probe(torch_too=True)
def linear_bias_set_to_none(T, compile):
    def change(m):
        m.lin.bias = None

    return _after(T, compile, _Scaled.make(T), change)


@probe(torch_too=True)
def parameter_filled_through_data(T, compile):
    return _after(T, compile, T.nn.LayerNorm(3), lambda m: m.weight.data.fill_(3.0))


@probe()
def dataclass_field_set_with_object_setattr(T, compile):
    @dataclasses.dataclass
    class Cfg:
        scale: float

    cfg = Cfg(2.0)

    def f(x):
        return x * cfg.scale

    c = compile(f)
    first = c(_x(T))
    object.__setattr__(cfg, "scale", 5.0)
    return [first, c(_x(T))], [_x(T) * 2, f(_x(T))]


@probe()
def slotted_field_set_through_its_descriptor(T, compile):
    class S:
        __slots__ = ("k",)

    s = S()
    s.k = 2.0

    def f(x):
        return x * s.k

    c = compile(f)
    first = c(_x(T))
    S.k.__set__(s, 4.0)
    return [first, c(_x(T))], [_x(T) * 2, f(_x(T))]


@probe()
def nested_dict_leaf_changed(T, compile):
    cfg = {"a": {"b": {"c": {"d": 1.0}}}}

    def f(x):
        return x * cfg["a"]["b"]["c"]["d"]

    c = compile(f)
    first = c(_x(T))
    cfg["a"]["b"]["c"]["d"] = 4.0
    return [first, c(_x(T))], [_x(T), f(_x(T))]


@probe()
def from_numpy_of_a_mutated_array(T, compile):
    arr = np.arange(3.0, dtype=np.float32)

    def f(x):
        return x + T.from_numpy(arr)

    c = compile(f)
    first = c(_x(T))
    arr[0] = 100.0
    return [first, c(_x(T))], [_x(T) + T.tensor([0.0, 1.0, 2.0]), f(_x(T))]


def _switch_probe(T, compile, read, turn_on, turn_off):
    """Compile ``x * (2 if read() else 3)``, call it, flip a global switch, call again."""

    def f(x):
        return x * (2.0 if read() else 3.0)

    c = compile(f)
    out = [c(_x(T))]
    turn_on()
    try:
        out.append(c(_x(T)))
        expected = [_x(T) * (2.0 if read() else 3.0) for _ in range(2)]
    finally:
        turn_off()
    out.append(c(_x(T)))
    return out, [f(_x(T)), expected[0], f(_x(T))]


@probe()
def anomaly_detection_switched_on(T, compile):
    return _switch_probe(
        T,
        compile,
        lambda: T.is_anomaly_enabled(),
        lambda: T.autograd.set_detect_anomaly(True),
        lambda: T.autograd.set_detect_anomaly(False),
    )


@probe()
def number_of_threads_changed(T, compile):
    before = T.get_num_threads()
    other = 1 if before != 1 else 2
    return _switch_probe(
        T,
        compile,
        lambda: T.get_num_threads() == other,
        lambda: T.set_num_threads(other),
        lambda: T.set_num_threads(before),
    )


@probe()
def warn_always_switched_on(T, compile):
    return _switch_probe(
        T,
        compile,
        lambda: T.is_warn_always_enabled(),
        lambda: T.set_warn_always(True),
        lambda: T.set_warn_always(False),
    )


@probe()
def initial_seed_read_after_manual_seed(T, compile):
    def f(x):
        return x * T.initial_seed()

    T.manual_seed(1)
    c = compile(f)
    first = c(_x(T))
    T.manual_seed(7)
    return [first, c(_x(T))], [_x(T), f(_x(T))]


@probe()
def generator_argument_initial_seed_reseeded(T, compile):
    def f(x, g):
        return x * g.initial_seed()

    g = T.Generator().manual_seed(3)
    c = compile(f)
    first = c(_x(T), g)
    g.manual_seed(9)
    return [first, c(_x(T), g)], [_x(T) * 3, f(_x(T), g)]


@probe()
def attribute_on_a_captured_tensor_changed(T, compile):
    w = T.ones(3)
    w.scale = 2.0

    def f(x):
        return x * w.scale

    c = compile(f)
    first = c(_x(T))
    w.scale = 5.0
    return [first, c(_x(T))], [_x(T) * 2, f(_x(T))]


@probe()
def attribute_on_a_parameter_added_later(T, compile):
    m = T.nn.Linear(3, 3)

    def f(x):
        return x * getattr(m.weight, "gain", 1.0)

    c = compile(f)
    with T.no_grad():
        first = c(_x(T))
        m.weight.gain = 4.0
        return [first, c(_x(T))], [_x(T), f(_x(T))]


@probe(torch_too=True)
def load_state_dict_with_assign(T, compile):
    def change(m):
        state = {k: T.full_like(v, 0.5) for k, v in m.state_dict().items()}
        m.load_state_dict(state, assign=True)

    return _after(T, compile, _Scaled.make(T), change)


@probe()
def hook_on_a_submodule_removed_by_its_handle(T, compile):
    m = _Scaled.make(T)
    handle = m.lin.register_forward_pre_hook(lambda mod, inp: (inp[0] * 2,))
    return _after(T, compile, m, lambda _: handle.remove())


@probe()
def model_converted_to_float64_with_to(T, compile):
    m = _Scaled.make(T)
    c = compile(m)
    x = _x(T).reshape(1, 3)
    with T.no_grad():
        first = c(x)
        m.to(T.float64)
        return [first, c(x.double())], [first, m(x.double())]


@probe()
def stride_compared_under_automatic_dynamic_shapes(T, compile):
    def f(x):
        return x * (2.0 if x.stride(0) > 5 else 3.0)

    c = compile(f)
    inputs = [T.ones(3, n) for n in (2, 3, 4, 6, 7, 8)]
    return [c(x) for x in inputs], [f(x) for x in inputs]


# ------------------------------------------------------------------------------ the tests


test_probe_agrees_with_eager, test_probe_is_what_torch_compile_does = PROBES.tests(torch)


def test_traced_view_metadata_matches_eager_and_torch():
    """Every view's (strides, storage offset, contiguity) under kiln.jit, as eagerly and as
    PyTorch reports them."""
    exprs = [
        "x.t()",
        "x[:, 1:]",
        "x[::2, ::3]",
        "x.unsqueeze(0).expand(2, 3, 4)",
        "x.narrow(1, 1, 2)",
        "x.diagonal()",
        "x.unfold(1, 2, 1)",
        "x.as_strided((2, 2), (1, 4), 1)",
        "x[1]",
        "x.t()[1:]",
        "x.select(1, 2)",
        "x.movedim(0, 1).unsqueeze(1)",
        "x.t() + 1",
        "x.t().contiguous()",
        "x.t().reshape(12)",
        "x.view(2, 6)",
        "x.t().clone()",
        "T.empty_strided((2, 3), (1, 2))",
        "x.new_empty_strided((2, 3), (1, 2))",
        "T.zeros_like(x.t())",
        "x.t().to(T.float64)",
        "x.t().detach()",
        "T.where(x.t() > 2, x.t(), 0.0)",
        "x[:, None].transpose(0, 2)",
        "x.reshape(2, 2, 3).transpose(0, 2)",
        "x.chunk(2, 1)[1].t()",
        "x.view(12)[::3]",
        "y.permute(0, 2, 3, 1)",
        "y.contiguous(memory_format=T.channels_last) + 1",
        "y.contiguous(memory_format=T.channels_last).relu()",
        "y.clone(memory_format=T.channels_last)",
        "T.empty_like(y, memory_format=T.channels_last)",
        "y.contiguous(memory_format=T.channels_last)[:, :2]",
        "y.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)",
    ]

    def meta(v):
        return (tuple(v.stride()), v.storage_offset(), v.is_contiguous())

    seen = {}

    def f(x, y):
        seen["traced"] = [meta(eval(e, {"x": x, "y": y, "T": kiln})) for e in exprs]
        return x + 1

    x, y = kiln.arange(12.0).reshape(3, 4), kiln.arange(120.0).reshape(2, 3, 4, 5)
    eager = [meta(eval(e, {"x": x, "y": y, "T": kiln})) for e in exprs]
    kiln.trace(f, x, y)
    tx, ty = torch.arange(12.0).reshape(3, 4), torch.arange(120.0).reshape(2, 3, 4, 5)
    expected = [meta(eval(e, {"x": tx, "y": ty, "T": torch})) for e in exprs]
    assert eager == expected
    assert seen["traced"] == expected


def test_storage_offset_enters_the_key_only_when_read(caplog, monkeypatch):
    """A function that never reads an offset is not retraced for views at new offsets; one
    that reads it is, once per offset, and says why."""
    monkeypatch.setattr(config, "log_recompiles", True)
    base = kiln.arange(16.0)
    plain = kiln.jit(lambda x: x * 2)
    for k in range(4):
        plain(base[k : k + 4])
    assert plain.trace_count == 1

    reads = kiln.jit(lambda x: x + x.storage_offset())
    with caplog.at_level("INFO", logger="kiln.jit"):
        outs = [reads(base[k : k + 4]) for k in (0, 1, 0, 2)]
    for k, out in zip((0, 1, 0, 2), outs):
        np.testing.assert_allclose(out.numpy(), base[k : k + 4].numpy() + k)
    assert "storage offset" in caplog.text


def test_module_dict_store_names_the_attribute_in_the_retrace_reason(caplog, monkeypatch):
    monkeypatch.setattr(config, "log_recompiles", True)
    m = _Scaled.make(kiln)
    jf = kiln.jit(m)
    x = kiln.ones(1, 3)
    with kiln.no_grad(), caplog.at_level("INFO", logger="kiln.jit"):
        jf(x)
        object.__setattr__(m, "k", 3.0)
        out = jf(x)
        np.testing.assert_allclose(out.numpy(), m(x).numpy(), rtol=1e-6)
    assert ".k" in caplog.text


def test_grad_of_an_argument_after_backward_runs_eagerly_under_compile():
    """PyTorch breaks the graph at ``x.grad`` after ``backward()``: kiln.compile runs such a
    call eagerly (equal to eager, gradients accumulated once); kiln.jit refuses it."""

    def f(x):
        (x * x).sum().backward()
        return x.grad * 2

    x = kiln.tensor([1.0, -2.0, 3.0], requires_grad=True)
    expected = f(x)
    x.grad = None
    c = kiln.compile(f)
    with pytest.warns(UserWarning, match="runs eagerly"):
        out = c(x)
    np.testing.assert_allclose(out.numpy(), expected.numpy())
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy())
    with pytest.raises(TraceError, match="grad"):
        kiln.jit(f)(kiln.tensor([1.0, 2.0], requires_grad=True))
    with pytest.raises(TraceError):
        kiln.compile(f, fullgraph=True)(kiln.tensor([1.0, 2.0], requires_grad=True))


def test_grad_of_an_argument_read_without_backward_is_refused():
    """The caller's ``x.grad`` is not a graph input: reading it would bake in None."""

    def f(x):
        return x * 2 if x.grad is None else x.grad * 3

    x = kiln.tensor([1.0, 2.0], requires_grad=True)
    x.grad = kiln.tensor([5.0, 6.0])
    c = kiln.compile(f)
    with pytest.warns(UserWarning, match="runs eagerly"):
        np.testing.assert_allclose(c(x).numpy(), [15.0, 18.0])


def test_data_ptr_comparison_runs_eagerly_under_compile():
    def f(a, b):
        return a * (2.0 if a.data_ptr() == b.data_ptr() else 3.0)

    x = kiln.arange(4.0)
    c = kiln.compile(f)
    with pytest.warns(UserWarning, match="data_ptr"):
        np.testing.assert_allclose(c(x, x).numpy(), f(x, x).numpy())
    with pytest.warns(UserWarning, match="data_ptr"):  # (another key: not aliased)
        np.testing.assert_allclose(c(x, x.clone()).numpy(), f(x, x.clone()).numpy())
    with pytest.raises(TraceError, match="data_ptr"):
        kiln.jit(f)(x, x)


def test_rng_state_read_inside_runs_eagerly_under_compile():
    """The generator's position moves on every draw: its value cannot be compiled in."""

    def f(x):
        return x * kiln.get_rng_state().float().sum()

    x = kiln.ones(3)
    c = kiln.compile(f)
    with pytest.warns(UserWarning, match="runs eagerly"):
        c(x)
    kiln.rand(5)
    np.testing.assert_allclose(c(x).numpy(), f(x).numpy())
    with pytest.raises(TraceError, match="get_rng_state"):
        kiln.jit(f)(x)


def test_is_leaf_of_an_argument_with_a_history_runs_eagerly_under_compile():
    """A leaf and a non-leaf argument are two keys; the non-leaf's is_leaf stops the trace
    (its history is outside the function): eager under kiln.compile, TraceError in jit."""

    def f(x):
        return x * (2.0 if x.is_leaf else 3.0)

    a = kiln.ones(3, requires_grad=True)
    b = a * 1
    c = kiln.compile(f)
    np.testing.assert_allclose(c(a).detach().numpy(), 2.0)
    with pytest.warns(UserWarning, match="is_leaf"):
        np.testing.assert_allclose(c(b).detach().numpy(), 3.0)
    with pytest.raises(TraceError, match="is_leaf"):
        kiln.jit(f)(b)


def test_grad_fn_of_an_argument_with_a_history_runs_eagerly_under_compile():
    def f(x):
        return x * (2.0 if x.grad_fn is None else 3.0)

    a = kiln.ones(3, requires_grad=True)
    b = a * 1
    c = kiln.compile(f)
    np.testing.assert_allclose(c(a).detach().numpy(), 2.0)
    with pytest.warns(UserWarning, match="grad_fn"):
        np.testing.assert_allclose(c(b).detach().numpy(), 3.0)
    with pytest.raises(TraceError, match="grad_fn"):
        kiln.jit(f)(b)
    # gradients still flow through such an argument as eagerly
    loss = kiln.jit(lambda x: (x * x).sum())
    a2 = kiln.ones(3, requires_grad=True)
    loss(a2 * 2).backward()
    np.testing.assert_allclose(a2.grad.numpy(), 8.0)


def test_storage_comparison_runs_eagerly_under_compile():
    """Two views of one storage and of two: x.untyped_storage().data_ptr() compared in the
    function (PyTorch breaks the graph there): eager under kiln.compile, equal to eager."""

    def f(x, y):
        same = x.untyped_storage().data_ptr() == y.untyped_storage().data_ptr()
        return x * (2.0 if same else 3.0)

    base = kiln.arange(12.0)
    c = kiln.compile(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for x, y in [(base[0:4], base[4:8]), (base[0:4], kiln.ones(4))]:
            np.testing.assert_allclose(c(x, y).numpy(), f(x, y).numpy())
    with pytest.raises(TraceError, match="untyped_storage"):
        kiln.jit(f)(base[0:4], base[4:8])
