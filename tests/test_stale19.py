"""Stale-trace probes, round two: change what a compiled function depends on between two
calls, as a PyTorch user would, and check that the second call agrees with eager.

The pattern is tests/test_stale17.py's: each probe is written once against a ``torch``-like
module ``T`` and runs on kiln (``kiln.compile(fullgraph=True)``, so a probe cannot pass by
falling back to eager, and ``kiln.jit``); a probe about something torch.compile recompiles
on runs on PyTorch too (``torch.compile(backend="eager")``), which must agree with its own
eager result.
"""

from __future__ import annotations

import enum
import functools
import os

import numpy as np
import pytest

import kiln
import kiln.nn as knn
from kiln.compiler.errors import TraceError
from kiln.jit import config

torch = pytest.importorskip("torch")

from _stale_probes import COMPILERS, Probes  # noqa: E402
from _stale_probes import close as _close  # noqa: E402
from _stale_probes import x_of as _x  # noqa: E402

PROBES = Probes(torch_too=True)
probe = PROBES.probe


def torch_compile(fn):
    return torch.compile(fn, backend="eager")


class _Box:
    def __init__(self, **kw):
        self.__dict__.update(kw)


# ------------------------------------------------------------------------------ attributes


@probe()
def attribute_read_through_vars(T, compile):
    box = _Box(k=2.0)

    def f(x):
        return x * vars(box)["k"]

    c = compile(f)
    c(_x(T))
    box.k = 5.0
    return c(_x(T)), f(_x(T))


@probe()
def attribute_read_through_dunder_dict(T, compile):
    box = _Box(k=2.0)

    def f(x):
        return x * box.__dict__["k"]

    c = compile(f)
    c(_x(T))
    name = "k"
    setattr(box, name, 5.0)
    return c(_x(T)), f(_x(T))


@probe()
def attribute_read_with_a_computed_name(T, compile):
    box = _Box(k=2.0, which="k")

    def f(x):
        return x * getattr(box, box.which)

    c = compile(f)
    c(_x(T))
    box.k = 5.0
    return c(_x(T)), f(_x(T))


@probe()
def attribute_name_from_a_loop(T, compile):
    box = _Box(a=1.0, b=2.0)

    def f(x):
        out = x
        for name in ("a", "b"):
            out = out * getattr(box, name)
        return out

    c = compile(f)
    c(_x(T))
    name = "b"
    setattr(box, name, 7.0)
    return c(_x(T)), f(_x(T))


@probe()
def module_attribute_with_a_computed_name(T, compile):
    class A(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale_a = 2.0
            self.mode = "a"

        def forward(self, x):
            return x * getattr(self, "scale_" + self.mode)

    m = A()
    c = compile(m)
    c(_x(T))
    m.scale_a = 3.0
    return c(_x(T)), m(_x(T))


@probe()
def class_attribute_shadowed_by_instance(T, compile):
    class A:
        k = 2.0

        def run(self, x):
            return x * self.k

    a = A()

    def f(x):
        return a.run(x)

    c = compile(f)
    c(_x(T))
    a.k = 5.0
    r1, e1 = c(_x(T)), f(_x(T))
    del a.k
    A.k = 7.0
    return [r1, c(_x(T))], [e1, f(_x(T))]


@probe()
def property_backed_by_a_field(T, compile):
    class A:
        def __init__(self):
            self._k = 2.0

        @property
        def k(self):
            return self._k * 2

    a = A()

    def f(x):
        return x * a.k

    c = compile(f)
    c(_x(T))
    a._k = 5.0
    return c(_x(T)), f(_x(T))


@probe()
def property_replaced_on_the_class(T, compile):
    class A:
        @property
        def k(self):
            return 2.0

    a = A()

    def f(x):
        return x * a.k

    c = compile(f)
    c(_x(T))
    A.k = property(lambda self: 9.0)
    return c(_x(T)), f(_x(T))


@probe()
def module_getattr_hook(T, compile):
    class A(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.table = {"k": 2.0}

        def __getattr__(self, name):
            if name.startswith("cfg_"):
                return self.__dict__["table"][name[4:]]
            return super().__getattr__(name)

        def forward(self, x):
            return x * self.cfg_k

    m = A()
    c = compile(m)
    c(_x(T))
    m.table["k"] = 5.0
    return c(_x(T)), m(_x(T))


# ------------------------------------------------------------------------------ methods


@probe(torch_too=False)  # (torch.compile(backend='eager') is stale here)
def method_replaced_on_the_class(T, compile):
    class A(T.nn.Module):
        def scale(self, x):
            return x * 2

        def forward(self, x):
            return self.scale(x) + 1

    m = A()
    c = compile(m)
    c(_x(T))
    A.scale = lambda self, x: x * 5
    return c(_x(T)), m(_x(T))


@probe()
def method_replaced_on_the_instance(T, compile):
    class A(T.nn.Module):
        def scale(self, x):
            return x * 2

        def forward(self, x):
            return self.scale(x) + 1

    m = A()
    c = compile(m)
    c(_x(T))
    m.scale = lambda x: x * 5
    return c(_x(T)), m(_x(T))


@probe()
def parent_method_replaced_under_super(T, compile):
    class Base(T.nn.Module):
        def forward(self, x):
            return x * 2

    class Child(Base):
        def forward(self, x):
            return super().forward(x) + 1

    m = Child()
    c = compile(m)
    c(_x(T))
    Base.forward = lambda self, x: x * 5
    return c(_x(T)), m(_x(T))


@probe()
def parent_helper_replaced_under_explicit_super(T, compile):
    class Base(T.nn.Module):
        def helper(self, x):
            return x * 2

    class Child(Base):
        def forward(self, x):
            return super(Child, self).helper(x) - 1  # noqa: UP008  (the probe)

    m = Child()
    c = compile(m)
    c(_x(T))
    Base.helper = lambda self, x: x * 3
    return c(_x(T)), m(_x(T))


@probe(torch_too=False)  # (torch.compile(backend='eager') is stale here)
def method_added_to_a_subclass(T, compile):
    class Base(T.nn.Module):
        def scale(self, x):
            return x * 2

        def forward(self, x):
            return self.scale(x)

    class Child(Base):
        pass

    m = Child()
    c = compile(m)
    c(_x(T))
    Child.scale = lambda self, x: x * 4
    return c(_x(T)), m(_x(T))


@probe(torch_too=False)
def kiln_functional_relu_monkeypatched(T, compile):
    m = T.nn.Sequential(T.nn.ReLU())
    c = compile(m)
    c(_x(T))
    F = T.nn.functional
    old = F.relu
    try:
        F.relu = lambda x, inplace=False: x * 3
        return c(_x(T)), m(_x(T))
    finally:
        F.relu = old


@probe(torch_too=False)
def kiln_functional_gelu_monkeypatched(T, compile):
    m = T.nn.GELU()
    c = compile(m)
    c(_x(T))
    F = T.nn.functional
    old = F.gelu
    try:
        F.gelu = lambda x, approximate="none": x - 1
        return c(_x(T)), m(_x(T))
    finally:
        F.gelu = old


# ------------------------------------------------------------------------------ closures, defaults


@probe()
def closure_cell_rebound_by_nonlocal(T, compile):
    k = 2.0

    def f(x):
        return x * k

    def bump():
        nonlocal k
        k = 5.0

    c = compile(f)
    c(_x(T))
    bump()
    return c(_x(T)), f(_x(T))


@probe()
def mutable_default_mutated(T, compile):
    def f(x, cfg={"k": 2.0}):  # noqa: B006  (the probe)
        return x * cfg["k"]

    c = compile(f)
    c(_x(T))
    f.__defaults__[0]["k"] = 5.0
    return c(_x(T)), f(_x(T))


@probe()
def mutable_default_list_appended(T, compile):
    def f(x, ks=[2.0]):  # noqa: B006  (the probe)
        out = x
        for k in ks:
            out = out * k
        return out

    c = compile(f)
    c(_x(T))
    f.__defaults__[0].append(3.0)
    return c(_x(T)), f(_x(T))


@probe()
def partial_keyword_replaced(T, compile):
    def f(x, a=1.0, b=0.0):
        return x * a + b

    p = functools.partial(f, a=2.0)
    c = compile(p)
    c(_x(T))
    p.keywords["b"] = 4.0
    return c(_x(T)), p(_x(T))


# ------------------------------------------------------------------------------ modules


@probe()
def buffer_replaced_by_assignment(T, compile):
    class A(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("b", T.ones(3))

        def forward(self, x):
            return x + self.b

    m = A()
    c = compile(m)
    c(_x(T))
    m.b = T.full((3,), 4.0)
    return c(_x(T)), m(_x(T))


@probe()
def buffer_mutated_in_place(T, compile):
    class A(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("b", T.ones(3))

        def forward(self, x):
            return x + self.b

    m = A()
    c = compile(m)
    c(_x(T))
    m.b.mul_(3)
    return c(_x(T)), m(_x(T))


@probe()
def buffer_replaced_with_another_shape(T, compile):
    class A(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("b", T.ones(3))

        def forward(self, x):
            return x + self.b

    m = A()
    c = compile(m)
    c(_x(T))
    m.b = T.ones(2, 3)
    return c(_x(T)), m(_x(T))


@probe()
def parameter_data_replaced(T, compile):
    lin = T.nn.Linear(3, 2)
    c = compile(lin)
    c(_x(T))
    with T.no_grad():
        lin.weight.data = T.ones(2, 3)
    return c(_x(T)), lin(_x(T))


@probe()
def parameter_data_replaced_with_another_dtype(T, compile):
    lin = T.nn.Linear(3, 2)
    c = compile(lin)
    c(_x(T))
    lin.weight.data = T.ones(2, 3, dtype=T.float64)
    lin.bias.data = T.zeros(2, dtype=T.float64)
    return c(_x(T).double()), lin(_x(T).double())


@probe()
def parameter_requires_grad_toggled(T, compile):
    lin = T.nn.Linear(3, 2)
    c = compile(lin)
    c(_x(T))
    lin.weight.requires_grad_(False)
    a = c(_x(T))
    b = lin(_x(T))
    assert a.requires_grad == b.requires_grad
    a.sum().backward()
    ga = lin.bias.grad.clone()
    lin.bias.grad = None
    b.sum().backward()
    assert lin.weight.grad is None
    return [a, ga], [b, lin.bias.grad]


@probe()
def train_eval_dropout(T, compile):
    m = T.nn.Sequential(T.nn.Linear(3, 3), T.nn.Dropout(0.5))
    c = compile(m)
    c(_x(T))
    m.eval()
    return c(_x(T)), m(_x(T))


@probe()
def train_eval_batchnorm(T, compile):
    m = T.nn.BatchNorm1d(3)
    xs = T.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    c = compile(m)
    c(xs)
    m.eval()
    r = c(xs)
    m2 = T.nn.BatchNorm1d(3)
    m2(xs)
    m2.eval()
    return [r, m.running_mean], [m2(xs), m2.running_mean]


@probe()
def batchnorm_momentum_changed(T, compile):
    m = T.nn.BatchNorm1d(3)
    m2 = T.nn.BatchNorm1d(3)
    xs = T.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]])
    c = compile(m)
    c(xs)
    m2(xs)
    m.momentum = 0.9
    m2.momentum = 0.9
    c(xs)
    m2(xs)
    return [m.running_mean, m.running_var], [m2.running_mean, m2.running_var]


@probe(torch_too=False)  # (torch.compile(backend='eager') is stale here)
def forward_hook_added_after_first_call(T, compile):
    lin = T.nn.Linear(3, 2)
    c = compile(lin)
    c(_x(T))
    h = lin.register_forward_hook(lambda mod, inp, out: out * 10)
    r1, e1 = c(_x(T)), lin(_x(T))
    h.remove()
    return [r1, c(_x(T))], [e1, lin(_x(T))]


@probe(torch_too=False)  # (torch.compile(backend='eager') is stale here)
def forward_pre_hook_on_a_submodule(T, compile):
    m = T.nn.Sequential(T.nn.Linear(3, 3), T.nn.ReLU())
    c = compile(m)
    c(_x(T))
    m[1].register_forward_pre_hook(lambda mod, inp: (inp[0] - 1,))
    return c(_x(T)), m(_x(T))


@probe()
def module_apply_changes_weights(T, compile):
    m = T.nn.Sequential(T.nn.Linear(3, 3), T.nn.Linear(3, 2))
    c = compile(m)
    c(_x(T))

    def init(mod):
        if isinstance(mod, T.nn.Linear):
            mod.weight = T.nn.Parameter(T.ones_like(mod.weight))

    m.apply(init)
    return c(_x(T)), m(_x(T))


@probe()
def submodule_replaced(T, compile):
    m = T.nn.Sequential(T.nn.Linear(3, 3), T.nn.ReLU())
    c = compile(m)
    c(_x(T))
    m[1] = T.nn.Tanh()
    return c(_x(T)), m(_x(T))


@probe()
def submodule_appended_to_module_list(T, compile):
    class A(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = T.nn.ModuleList([T.nn.Linear(3, 3)])

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return x

    m = A()
    c = compile(m)
    c(_x(T))
    m.layers.append(T.nn.Linear(3, 3))
    return c(_x(T)), m(_x(T))


@probe()
def named_parameters_iteration(T, compile):
    class A(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = T.nn.Parameter(T.ones(3))

        def forward(self, x):
            out = x
            for _, p in self.named_parameters():
                out = out * p
            return out

    m = A()
    c = compile(m)
    c(_x(T))
    m.b = T.nn.Parameter(T.full((3,), 2.0))
    return c(_x(T)), m(_x(T))


@probe()
def activation_inplace_flag(T, compile):
    relu = T.nn.ReLU()

    def f(x):
        y = x * 1
        z = relu(y)
        return y + z

    c = compile(f)
    c(_x(T))
    relu.inplace = True
    return c(_x(T)), f(_x(T))


@probe()
def leaky_relu_slope_changed(T, compile):
    m = T.nn.LeakyReLU(0.1)
    c = compile(m)
    c(_x(T))
    m.negative_slope = 0.5
    return c(_x(T)), m(_x(T))


# ------------------------------------------------------------------------------ global state


@probe()
def no_grad_around_the_call(T, compile):
    w = T.ones(3, requires_grad=True)

    def f(x):
        return x * w

    c = compile(f)
    c(_x(T))
    with T.no_grad():
        a, b = c(_x(T)), f(_x(T))
    assert a.requires_grad == b.requires_grad
    a2 = c(_x(T))
    assert a2.requires_grad
    return [a, a2], [b, f(_x(T))]


@probe()
def set_grad_enabled_around_the_call(T, compile):
    w = T.ones(3, requires_grad=True)

    def f(x):
        return x * w

    c = compile(f)
    c(_x(T))
    T.set_grad_enabled(False)
    try:
        a, b = c(_x(T)), f(_x(T))
    finally:
        T.set_grad_enabled(True)
    assert a.requires_grad == b.requires_grad
    return a, b


@probe()
def inference_mode_around_the_call(T, compile):
    w = T.ones(3, requires_grad=True)

    def f(x):
        return x * w

    c = compile(f)
    c(_x(T))
    with T.inference_mode():
        a, b = c(_x(T)), f(_x(T))
    assert a.requires_grad == b.requires_grad
    assert a.is_inference() == b.is_inference()
    return a, b


@probe()
def enable_grad_inside_no_grad_call(T, compile):
    w = T.ones(3, requires_grad=True)

    def f(x):
        return x * w

    c = compile(f)
    with T.no_grad():
        c(_x(T))
    with T.enable_grad():
        a, b = c(_x(T)), f(_x(T))
    assert a.requires_grad and b.requires_grad
    return a, b


@probe()
def default_dtype_changed(T, compile):
    def f(x):
        return x + T.ones(3)

    c = compile(f)
    c(_x(T))
    old = T.get_default_dtype()
    T.set_default_dtype(T.float64)
    try:
        a, b = c(_x(T).double()), f(_x(T).double())
        a2, b2 = c(_x(T).float()), f(_x(T).float())
    finally:
        T.set_default_dtype(old)
    return [a, a2], [b, b2]


@probe()
def default_dtype_for_a_python_scalar(T, compile):
    def f(n):
        return T.arange(n) * 0.5 + T.tensor(1.5)

    c = compile(f)
    c(3)
    old = T.get_default_dtype()
    T.set_default_dtype(T.float64)
    try:
        return c(3), f(3)
    finally:
        T.set_default_dtype(old)


@probe(torch_too=False)
def global_seed_before_each_call(T, compile):
    def f(x):
        return x + T.rand(3)

    c = compile(f)
    T.manual_seed(0)
    c(_x(T))
    T.manual_seed(1)
    a = c(_x(T))
    T.manual_seed(1)
    b = f(_x(T))
    return a, b


@probe(torch_too=False)
def dropout_with_a_seed(T, compile):
    m = T.nn.Dropout(0.5)
    x = T.ones(64)
    c = compile(m)
    T.manual_seed(3)
    c(x)
    T.manual_seed(4)
    a = c(x)
    T.manual_seed(4)
    return a, m(x)


# ------------------------------------------------------------------------------ arguments


@probe()
def list_of_tensors_changes_length(T, compile):
    def f(xs):
        out = xs[0]
        for t in xs[1:]:
            out = out + t
        return out * len(xs)

    c = compile(f)
    c([_x(T), _x(T)])
    ys = [_x(T), _x(T) * 2, _x(T) * 3]
    return c(ys), f(ys)


@probe()
def dict_of_tensors_gains_a_key(T, compile):
    def f(d):
        out = d["a"]
        if "b" in d:
            out = out * d["b"]
        return out

    c = compile(f)
    c({"a": _x(T)})
    d = {"a": _x(T), "b": _x(T) + 1}
    return c(d), f(d)


@probe()
def tuple_with_a_python_number(T, compile):
    def f(pair):
        t, k = pair
        return t * k

    c = compile(f)
    c((_x(T), 2.0))
    return c((_x(T), 3.0)), f((_x(T), 3.0))


@probe()
def tensor_dtype_changed(T, compile):
    def f(x):
        return x / 2

    c = compile(f)
    c(_x(T))
    y = T.tensor([1, 2, 3])
    return c(y), f(y)


@probe()
def tensor_shape_changed(T, compile):
    def f(x):
        return x.sum(-1) * x.shape[-1]

    c = compile(f)
    c(_x(T))
    y = T.ones(2, 4)
    return c(y), f(y)


@probe()
def zero_dim_versus_one_dim(T, compile):
    def f(x):
        return x * 2 + x.dim()

    c = compile(f)
    c(T.tensor([3.0]))
    return c(T.tensor(3.0)), f(T.tensor(3.0))


@probe()
def non_contiguous_input(T, compile):
    def f(x):
        return x.view(-1) * 2 if x.is_contiguous() else x.reshape(-1) + 1

    c = compile(f)
    y = T.arange(6.0).reshape(2, 3)
    c(y)
    return c(y.t()), f(y.t())


@probe()
def transposed_input_strides(T, compile):
    def f(x):
        return x.stride()[0] * x

    c = compile(f)
    y = T.arange(6.0).reshape(2, 3)
    c(y)
    return c(y.t().contiguous().t()), f(y.t().contiguous().t())


@probe()
def input_requires_grad_toggled(T, compile):
    def f(x):
        return x * 2 if x.requires_grad else x * 3

    c = compile(f)
    c(_x(T))
    y = _x(T).requires_grad_()
    a, b = c(y), f(y)
    assert a.requires_grad and b.requires_grad
    return a, b


@probe(torch_too=False)
def attribute_set_on_a_tensor(T, compile):
    def f(x):
        return x * getattr(x, "scale", 1.0)

    y = _x(T)
    c = compile(f)
    c(y)
    y.scale = 4.0
    return c(y), f(y)


@probe()
def int_from_item(T, compile):
    def f(x, n):
        return x * n

    c = compile(f)
    c(_x(T), int(T.tensor(2).item()))
    n = int(T.tensor(5).item())
    return c(_x(T), n), f(_x(T), n)


@probe()
def len_of_a_list_argument(T, compile):
    def f(x, items):
        return x * len(items)

    c = compile(f)
    c(_x(T), ["a", "b"])
    return c(_x(T), ["a", "b", "c"]), f(_x(T), ["a", "b", "c"])


class Act(enum.Enum):
    RELU = "relu"
    TANH = "tanh"


@probe()
def enum_argument_selects_a_branch(T, compile):
    def f(x, act):
        return x.relu() if act is Act.RELU else x.tanh()

    c = compile(f)
    c(_x(T), Act.RELU)
    return c(_x(T), Act.TANH), f(_x(T), Act.TANH)


@probe()
def str_argument_selects_a_branch(T, compile):
    def f(x, mode):
        return x.sum() if mode == "sum" else x.mean()

    c = compile(f)
    c(_x(T), "sum")
    return c(_x(T), "mean"), f(_x(T), "mean")


@probe(torch_too=False)
def dynamic_shapes_change_rank(T, compile):
    def f(x):
        return x.sum(0) * x.shape[0]

    c = kiln.compile(f, dynamic=True) if T is kiln else compile(f)
    c(T.ones(4))
    c(T.ones(5))
    y = T.arange(6.0).reshape(2, 3)
    return c(y), f(y)


@probe()
def global_module_flag_flipped(T, compile):
    def f(x):
        return x * 2 if _FLAGS["double"] else x

    c = compile(f)
    c(_x(T))
    _FLAGS["double"] = False
    try:
        return c(_x(T)), f(_x(T))
    finally:
        _FLAGS["double"] = True


_FLAGS = {"double": True}


# ------------------------------------------------------------------------------ more state


@probe()
def computed_name_reads_a_class_attribute(T, compile):
    class A:
        k = 2.0

    a = A()
    name = "k"

    def f(x):
        return x * getattr(a, name)

    c = compile(f)
    c(_x(T))
    A.k = 5.0
    return c(_x(T)), f(_x(T))


@probe()
def submodule_by_computed_name_replaced(T, compile):
    class A(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc0 = T.nn.Linear(3, 3)
            self.fc1 = T.nn.Linear(3, 3)

        def forward(self, x):
            for i in range(2):
                x = getattr(self, f"fc{i}")(x)
            return x

    m = A()
    c = compile(m)
    c(_x(T))
    m.fc1 = T.nn.Linear(3, 3)
    return c(_x(T)), m(_x(T))


@probe()
def module_dict_selected_by_a_string(T, compile):
    class A(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.heads = T.nn.ModuleDict({"a": T.nn.Linear(3, 2), "b": T.nn.Linear(3, 2)})

        def forward(self, x, which):
            return self.heads[which](x)

    m = A()
    c = compile(m)
    c(_x(T), "a")
    a, b = c(_x(T), "b"), m(_x(T), "b")
    m.heads["b"] = T.nn.Linear(3, 2)
    return [a, c(_x(T), "b")], [b, m(_x(T), "b")]


@probe()
def plain_dict_on_a_module_mutated(T, compile):
    class A(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.cfg = {"k": 2.0}

        def forward(self, x):
            return x * self.cfg["k"]

    m = A()
    c = compile(m)
    c(_x(T))
    m.cfg["k"] = 5.0
    return c(_x(T)), m(_x(T))


@probe(torch_too=False)
def learning_rate_changed_between_steps(T, compile):
    def run(compiled):
        T.manual_seed(0)
        lin = T.nn.Linear(3, 1)
        opt = T.optim.SGD(lin.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = lin(x).sum()
            loss.backward()
            opt.step()
            return loss

        fn = compile(step) if compiled else step
        fn(_x(T))
        opt.param_groups[0]["lr"] = 0.5
        fn(_x(T))
        return [lin.weight, lin.bias]

    return run(True), run(False)


@probe()
def module_converted_to_double(T, compile):
    lin = T.nn.Linear(3, 2)
    c = compile(lin)
    c(_x(T))
    lin.double()
    return c(_x(T).double()), lin(_x(T).double())


@probe()
def parameter_data_replaced_with_another_shape(T, compile):
    lin = T.nn.Linear(3, 2)
    c = compile(lin)
    c(_x(T))
    lin.weight.data = T.ones(4, 3)
    lin.bias.data = T.zeros(4)
    return c(_x(T)), lin(_x(T))


@probe()
def captured_tensor_requires_grad_toggled(T, compile):
    w = T.ones(3, requires_grad=True)

    def f(x):
        return x * w

    c = compile(f)
    c(_x(T))
    w.requires_grad_(False)
    a, b = c(_x(T)), f(_x(T))
    assert a.requires_grad == b.requires_grad
    return a, b


@probe()
def global_tensor_rebound(T, compile):
    def f(x):
        return x + _GLOBALS["w"]

    c = compile(f)
    _GLOBALS["w"] = T.ones(3)
    c(_x(T))
    _GLOBALS["w"] = T.full((3,), 5.0)
    return c(_x(T)), f(_x(T))


_GLOBALS: dict = {}


@probe()
def helper_closure_rebound(T, compile):
    def make(k):
        def helper(x):
            return x * k

        return helper

    box = _Box(helper=make(2.0))

    def f(x):
        return box.helper(x) + 1

    c = compile(f)
    c(_x(T))
    box.helper = make(6.0)
    return c(_x(T)), f(_x(T))


@probe()
def staticmethod_replaced(T, compile):
    class A(T.nn.Module):
        @staticmethod
        def act(x):
            return x * 2

        def forward(self, x):
            return self.act(x)

    m = A()
    c = compile(m)
    c(_x(T))
    A.act = staticmethod(lambda x: x - 4)
    return c(_x(T)), m(_x(T))


@probe()
def classmethod_reads_a_class_attribute(T, compile):
    class A(T.nn.Module):
        k = 2.0

        @classmethod
        def scale(cls, x):
            return x * cls.k

        def forward(self, x):
            return self.scale(x)

    m = A()
    c = compile(m)
    c(_x(T))
    A.k = 7.0
    return c(_x(T)), m(_x(T))


@probe()
def nested_list_of_tensors_changes(T, compile):
    def f(groups):
        return sum(t.sum() * (i + 1) for i, g in enumerate(groups) for t in g)

    c = compile(f)
    c([[_x(T)], [_x(T), _x(T)]])
    g = [[_x(T), _x(T)], [_x(T)]]
    return c(g), f(g)


@probe()
def float_argument_becomes_int(T, compile):
    def f(x, k):
        return x * k if isinstance(k, float) else x - k

    c = compile(f)
    c(_x(T), 2.0)
    return c(_x(T), 2), f(_x(T), 2)


@probe()
def bool_argument_flipped(T, compile):
    def f(x, flag):
        return x * 2 if flag else x + 1

    c = compile(f)
    c(_x(T), True)
    return c(_x(T), False), f(_x(T), False)


@probe()
def none_versus_tensor_argument(T, compile):
    def f(x, bias=None):
        return x if bias is None else x + bias

    c = compile(f)
    c(_x(T))
    return c(_x(T), T.ones(3)), f(_x(T), T.ones(3))


@probe()
def slice_of_the_input_non_contiguous(T, compile):
    def f(x):
        return x.contiguous().view(-1)[:2] * x.stride(-1)

    c = compile(f)
    y = T.arange(12.0).reshape(3, 4)
    c(y[:, :2].contiguous())
    return c(y[:, ::2]), f(y[:, ::2])


@probe()
def module_property_over_a_field(T, compile):
    class A(T.nn.Module):
        def __init__(self):
            super().__init__()
            self._scale = 2.0

        @property
        def scale(self):
            return self._scale * 2

        def forward(self, x):
            return x * self.scale

    m = A()
    c = compile(m)
    c(_x(T))
    m._scale = 5.0
    return c(_x(T)), m(_x(T))


@probe()
def object_getattr_hook_reads_a_dict(T, compile):
    class Cfg:
        def __init__(self):
            self._d = {"k": 2.0}

        def __getattr__(self, name):
            return self.__dict__["_d"][name]

    cfg = Cfg()

    def f(x):
        return x * cfg.k

    c = compile(f)
    c(_x(T))
    cfg._d["k"] = 5.0
    return c(_x(T)), f(_x(T))


@probe(torch_too=False)  # (torch.compile(backend='eager') is stale here)
def hook_reads_a_global_flag(T, compile):
    lin = T.nn.Linear(3, 2)
    lin.register_forward_hook(lambda mod, inp, out: out * 10 if _FLAGS["double"] else out)
    c = compile(lin)
    c(_x(T))
    _FLAGS["double"] = False
    try:
        return c(_x(T)), lin(_x(T))
    finally:
        _FLAGS["double"] = True


@probe()
def module_list_item_deleted(T, compile):
    class A(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = T.nn.ModuleList([T.nn.Linear(3, 3) for _ in range(3)])

        def forward(self, x):
            return x * len(self.layers) + self.layers[-1](x)

    m = A()
    c = compile(m)
    c(_x(T))
    del m.layers[2]
    return c(_x(T)), m(_x(T))


@probe()
def optional_parameter_registered_later(T, compile):
    class A(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_parameter("extra", None)

        def forward(self, x):
            return x if self.extra is None else x * self.extra

    m = A()
    c = compile(m)
    c(_x(T))
    m.extra = T.nn.Parameter(T.full((3,), 3.0))
    return c(_x(T)), m(_x(T))


@probe()
def buffer_set_to_none(T, compile):
    class A(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mask", T.ones(3))

        def forward(self, x):
            return x if self.mask is None else x * self.mask * 2

    m = A()
    c = compile(m)
    c(_x(T))
    m.mask = None
    return c(_x(T)), m(_x(T))


@probe()
def instance_class_swapped(T, compile):
    class A(T.nn.Module):
        def forward(self, x):
            return x * 2

    class B(A):
        def forward(self, x):
            return x - 5

    m = A()
    c = compile(m)
    c(_x(T))
    m.__class__ = B
    return c(_x(T)), m(_x(T))


@probe()
def plain_object_class_swapped(T, compile):
    class A:
        def run(self, x):
            return x * 2

    class B:
        def run(self, x):
            return x - 5

    a = A()

    def f(x):
        return a.run(x)

    c = compile(f)
    c(_x(T))
    a.__class__ = B
    return c(_x(T)), f(_x(T))


@probe(torch_too=False)
def environment_variable_read_with_get(T, compile):
    def f(x):
        return x * float(os.environ.get("KILN_STALE19_SCALE", "1"))

    old = os.environ.get("KILN_STALE19_SCALE")
    try:
        os.environ["KILN_STALE19_SCALE"] = "2"
        c = compile(f)
        c(_x(T))
        os.environ["KILN_STALE19_SCALE"] = "5"
        return c(_x(T)), f(_x(T))
    finally:
        if old is None:
            os.environ.pop("KILN_STALE19_SCALE", None)
        else:
            os.environ["KILN_STALE19_SCALE"] = old


@probe()
def dict_get_with_a_default(T, compile):
    cfg = {"k": 2.0}

    def f(x):
        return x * cfg.get("k", 1.0) + cfg.get("b", 0.0)

    c = compile(f)
    c(_x(T))
    cfg["b"] = 3.0
    return c(_x(T)), f(_x(T))


@probe(torch_too=False)
def dynamic_shape_decides_a_branch(T, compile):
    def f(x):
        return x * 2 if x.shape[0] > 3 else x - 1

    c = kiln.compile(f, dynamic=True) if T is kiln else compile(f)
    c(T.ones(2))
    c(T.ones(3))
    return c(T.ones(5)), f(T.ones(5))


@probe()
def automatic_dynamic_size_parity(T, compile):
    def f(x):
        return x.sum() * 2 if x.shape[0] % 2 == 0 else x.sum() - 1

    c = compile(f)
    outs, want = [], []
    for n in (2, 3, 4, 7, 8, 9):
        y = T.arange(float(n))
        outs.append(c(y))
        want.append(f(y))
    return outs, want


class _Slotted:
    __slots__ = ("k",)

    def __init__(self, k):
        self.k = k


@probe()
def slotted_object_argument_mutated(T, compile):
    def f(x, o):
        return x * o.k

    o = _Slotted(2.0)
    c = compile(f)
    c(_x(T), o)
    o.k = 5.0
    return c(_x(T), o), f(_x(T), o)


@probe()
def list_of_floats_on_a_module_appended(T, compile):
    class A(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.scales = [2.0]

        def forward(self, x):
            for k in self.scales:
                x = x * k
            return x

    m = A()
    c = compile(m)
    c(_x(T))
    m.scales.append(3.0)
    return c(_x(T)), m(_x(T))


@probe(torch_too=False)
def generator_argument_reseeded(T, compile):
    def f(x, g):
        return x + T.rand(3, generator=g)

    g = T.Generator().manual_seed(0)
    c = compile(f)
    c(_x(T), g)
    g.manual_seed(7)
    a = c(_x(T), g)
    g.manual_seed(7)
    return a, f(_x(T), g)


@probe()
def vars_get_in_a_module(T, compile):
    class A(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.k = 2.0

        def forward(self, x):
            return x * vars(self).get("k", 1.0)

    m = A()
    c = compile(m)
    c(_x(T))
    m.k = 4.0
    return c(_x(T)), m(_x(T))


@probe()
def hasattr_with_a_computed_name(T, compile):
    box = _Box()
    flag = "use_" + "bias"

    def f(x):
        return x + 1 if hasattr(box, flag) else x - 1

    c = compile(f)
    c(_x(T))
    setattr(box, flag, True)
    return c(_x(T)), f(_x(T))


@probe()
def helper_reads_an_attribute_named_by_its_argument(T, compile):
    class A(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.alpha = 2.0

        def coef(self, name):
            return getattr(self, name)

        def forward(self, x):
            return x * self.coef("alpha")

    m = A()
    c = compile(m)
    c(_x(T))
    m.alpha = 6.0
    return c(_x(T)), m(_x(T))


@probe(torch_too=False)
def optimizer_param_group_added_between_steps(T, compile):
    def run(compiled):
        T.manual_seed(0)
        a, b = T.nn.Linear(3, 1), T.nn.Linear(3, 1)
        opt = T.optim.SGD(a.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = a(x).sum() + b(x).sum()
            loss.backward()
            opt.step()
            return loss

        fn = compile(step) if compiled else step
        fn(_x(T))
        opt.add_param_group({"params": list(b.parameters()), "lr": 0.5})
        fn(_x(T))
        return [a.weight, b.weight, b.bias]

    return run(True), run(False)


@probe()
def state_dict_loaded_between_calls(T, compile):
    lin = T.nn.Linear(3, 2)
    c = compile(lin)
    c(_x(T))
    other = T.nn.Linear(3, 2)
    lin.load_state_dict(other.state_dict())
    return c(_x(T)), other(_x(T))


@probe()
def computed_name_on_the_type_of_self(T, compile):
    class Base(T.nn.Module):
        k = 2.0

    class A(Base):
        def forward(self, x, name="k"):
            return x * getattr(type(self), name)

    m = A()
    c = compile(m)
    c(_x(T))
    Base.k = 5.0
    return c(_x(T)), m(_x(T))


# ------------------------------------------------------------------------------ tests


test_probe_agrees_with_eager, test_probe_is_what_torch_compile_does = PROBES.tests(torch)


def test_retrace_reason_names_a_monkeypatched_kiln_function(caplog, monkeypatch):
    monkeypatch.setattr(config, "log_recompiles", True)
    m = knn.ReLU()
    jf = kiln.jit(m)
    with caplog.at_level("INFO", logger="kiln.jit"):
        jf(kiln.ones(3))
        monkeypatch.setattr(knn.functional, "relu", lambda x, inplace=False: x * 3)
        out = jf(kiln.ones(3))
    np.testing.assert_allclose(out.numpy(), 3.0)
    assert "relu" in caplog.text and "retracing" in caplog.text


def test_arguments_over_one_buffer_alias():
    """Two arrays made by ``np.frombuffer`` over one ``bytearray`` share memory through two
    memoryviews: an in-place update of one shows through the other. kiln.compile runs the
    call eagerly, kiln.jit refuses it (it compiled the update as if they did not overlap)."""

    def f(a, b):
        a.add_(1)
        return b * 2

    def pair():
        buf = bytearray(np.arange(4, dtype=np.float32).tobytes())
        return [kiln.from_numpy(np.frombuffer(buf, dtype=np.float32)) for _ in range(2)]

    c = kiln.compile(f)
    a, _ = pair()
    c(a, a.clone())
    with pytest.warns(UserWarning, match="sharing memory"):
        compiled = c(*pair())
    _close(compiled, f(*pair()))
    j = kiln.jit(f)
    j(a, a.clone())
    with pytest.raises(TraceError, match="sharing memory"):
        j(*pair())


def test_retrace_reasons_name_super_computed_names_and_tensor_layout(caplog, monkeypatch):
    monkeypatch.setattr(config, "log_recompiles", True)

    class Base(knn.Module):
        def forward(self, x):
            return x * 2

    class Child(Base):
        def forward(self, x):
            return super().forward(x) + 1

    box = _Box(k=2.0)
    name = "k"
    with caplog.at_level("INFO", logger="kiln.jit"):
        jm = kiln.jit(Child())
        jm(kiln.ones(3))
        Base.forward = lambda self, x: x * 5
        np.testing.assert_allclose(jm(kiln.ones(3)).numpy(), 6.0)
        jf = kiln.jit(lambda x: x * getattr(box, name))
        jf(kiln.ones(3))
        box.k = 3.0
        np.testing.assert_allclose(jf(kiln.ones(3)).numpy(), 3.0)
        jg = kiln.jit(lambda x: x * x.stride(0))
        t = kiln.ones(2, 3)
        jg(t)
        np.testing.assert_allclose(jg(t.t()).numpy(), 1.0)
    assert "super(Child).forward is a new function" in caplog.text
    assert "box.__dict__['k'] changed 2.0 -> 3.0" in caplog.text
    assert "strides (1, 3)" in caplog.text


@pytest.mark.parametrize("how", list(COMPILERS))
def test_a_hook_on_an_input_runs_once(how):
    """A leaf's hooks live in its ``__dict__`` (``_hooks``): they are not attributes the
    trace reads, and are not copied onto its tracer (the compiled backward would run them
    once more)."""

    def f(x):
        return (x * 3).sum()

    grads = []
    for fn in (COMPILERS[how](f), f):
        x = kiln.ones(3, requires_grad=True)
        x.register_hook(lambda g: g * 2)
        x.name = "w"  # (an attribute of the user's: in the key, seen by the trace)
        fn(x).backward()
        grads.append(x.grad)
    _close(grads[0], grads[1])


def test_guards_on_class_dicts_hold_while_nothing_changes():
    """``vars(cls)`` and a computed name on ``type(self)`` are guarded by the class's own
    dict; the per-call check must read that dict (not the ``__dict__`` descriptor of the
    class's class), or every call would retrace."""

    class Base(knn.Module):
        k = 2.0

    class A(Base):
        def forward(self, x, name="k"):
            return x * getattr(type(self), name) + vars(Base)["k"]

    m = A()
    c = kiln.jit(m)
    for _ in range(3):
        c(kiln.ones(3))
    assert c.trace_count == 1
    Base.k = 5.0
    _close(c(kiln.ones(3)), m(kiln.ones(3)))
    assert c.trace_count == 2
