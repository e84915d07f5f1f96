# ruff: noqa: E501  (one probe per line: a table of short calls)
# Process-wide state and Python protocols that scripts lean on: seeds and generators,
# deterministic-algorithm flags, device availability, grad / inference / anomaly modes,
# optimizers' and schedulers' state_dict contents (param_groups defaults per optimizer,
# Adam / SGD state), more LR schedulers' first values (warm restarts, cyclic, polynomial,
# multiplicative), Parameter types through ops, and what Python builtins do with tensors
# (bool, int, float, index, len, iter, in, round, abs, max, sum, sorted, divmod) plus
# division by zero for integer and float tensors.
import copy

import numpy as np
import torch
from torch import nn


def show(name, f):
    try:
        r = f()
        print(name + ":", r)
    except Exception as e:
        print(name + ":", "ERR", type(e).__name__)


show("manual_seed type", lambda: type(torch.manual_seed(3)).__name__)
show("initial_seed", lambda: torch.initial_seed())
show("generator seed", lambda: torch.Generator().manual_seed(5).initial_seed())
show("generator state type", lambda: (torch.get_rng_state().dtype, torch.get_rng_state().dim()))
show("default generator", lambda: torch.default_generator.initial_seed())
show(
    "deterministic",
    lambda: (
        torch.use_deterministic_algorithms(True),
        torch.are_deterministic_algorithms_enabled(),
        torch.use_deterministic_algorithms(False),
    )[1],
)
show(
    "cuda",
    lambda: (
        torch.cuda.is_available(),
        torch.cuda.device_count(),
        torch.backends.mps.is_available(),
        torch.backends.cudnn.enabled,
    ),
)
show("default device", lambda: torch.get_default_device())
show("grad state", lambda: (torch.is_grad_enabled(), torch.is_inference_mode_enabled()))
show(
    "anomaly",
    lambda: (
        torch.is_anomaly_enabled(),
        torch.autograd.set_detect_anomaly(True) and None,
        torch.is_anomaly_enabled(),
        torch.autograd.set_detect_anomaly(False) and None,
    ),
)
opt = torch.optim.SGD([nn.Parameter(torch.ones(2))], lr=0.1, momentum=0.9)
sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
show("sched state_dict", lambda: sorted(sched.state_dict()))
show("opt state_dict groups", lambda: opt.state_dict()["param_groups"])
show("opt repr", lambda: repr(opt))
show(
    "adam groups",
    lambda: torch.optim.Adam([nn.Parameter(torch.ones(1))]).state_dict()["param_groups"],
)
show(
    "adamw groups",
    lambda: torch.optim.AdamW([nn.Parameter(torch.ones(1))]).state_dict()["param_groups"],
)
show(
    "rmsprop groups",
    lambda: torch.optim.RMSprop([nn.Parameter(torch.ones(1))]).state_dict()["param_groups"],
)
show(
    "adagrad groups",
    lambda: torch.optim.Adagrad([nn.Parameter(torch.ones(1))]).state_dict()["param_groups"],
)


def adam_state():
    p = nn.Parameter(torch.ones(2))
    o = torch.optim.Adam([p], lr=0.1)
    p.sum().backward()
    o.step()
    return o.state_dict()["state"]


show("adam state", adam_state)


def sgd_state():
    p = nn.Parameter(torch.ones(2))
    o = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    p.sum().backward()
    o.step()
    return o.state_dict()["state"]


show("sgd state", sgd_state)
show(
    "sched repr",
    lambda: (type(sched).__name__, sched.get_last_lr(), sched.last_epoch, sched.base_lrs),
)
show(
    "cosine warm",
    lambda: (lambda s: [s.step() or round(s.get_last_lr()[0], 5) for _ in range(5)])(
        torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1), T_0=2, T_mult=2
        )
    ),
)
show(
    "cyclic",
    lambda: (lambda s: [s.step() or round(s.get_last_lr()[0], 5) for _ in range(5)])(
        torch.optim.lr_scheduler.CyclicLR(
            torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1, momentum=0.9),
            0.01,
            0.1,
            step_size_up=2,
        )
    ),
)
show(
    "poly",
    lambda: (lambda s: [s.step() or round(s.get_last_lr()[0], 5) for _ in range(5)])(
        torch.optim.lr_scheduler.PolynomialLR(
            torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1), total_iters=4, power=2.0
        )
    ),
)
show(
    "multiplicative",
    lambda: (lambda s: [s.step() or round(s.get_last_lr()[0], 5) for _ in range(3)])(
        torch.optim.lr_scheduler.MultiplicativeLR(
            torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1), lambda e: 0.9
        )
    ),
)
show("deepcopy optimizer", lambda: type(copy.deepcopy(opt)).__name__)
m = nn.Linear(2, 2)
show("module to", lambda: m.to("cpu") is m)
show("param data_ptr", lambda: m.weight.data_ptr() == m.weight.data.data_ptr())
show(
    "param is_leaf grad_fn",
    lambda: (
        m.weight.is_leaf,
        m.weight.grad_fn,
        type(m.weight).__name__,
        isinstance(m.weight, torch.Tensor),
    ),
)
show(
    "param ops type",
    lambda: (
        type(m.weight * 2).__name__,
        type(m.weight.detach()).__name__,
        type(m.weight.data).__name__,
        type(m.weight[0]).__name__,
    ),
)
show("param clone type", lambda: type(m.weight.clone()).__name__)
show("buffer type", lambda: type(nn.BatchNorm1d(2).running_mean).__name__)
show(
    "tensor subclass check", lambda: (torch.is_tensor(m.weight), isinstance(m.weight, nn.Parameter))
)
show(
    "hash/eq tensor", lambda: (torch.ones(1) == torch.ones(1), len({torch.ones(1), torch.ones(1)}))
)
show("bool of tensor", lambda: bool(torch.tensor([0.0])))
show("bool multi", lambda: bool(torch.tensor([1, 2])))
show(
    "int float of tensor",
    lambda: (int(torch.tensor(3.7)), float(torch.tensor(2)), complex(torch.tensor(1.0))),
)
show("index with tensor", lambda: [1, 2, 3][torch.tensor(1)])
show("range tensor", lambda: list(range(torch.tensor(3))))
show("len tensor", lambda: len(torch.zeros(4, 2)))
show("len 0d", lambda: len(torch.tensor(1)))
show("iter 0d", lambda: list(torch.tensor(1)))
show("contains", lambda: (2 in torch.tensor([1, 2]), 5 in torch.tensor([1, 2])))
show("numpy array of tensor", lambda: np.asarray(torch.tensor([1.0, 2.0])).dtype)
show("round builtin", lambda: round(torch.tensor(2.567), 2))
show("abs builtin", lambda: abs(torch.tensor([-1.0])))
show("max builtin", lambda: max(torch.tensor([1, 5, 3])))
show("sum builtin", lambda: sum(torch.tensor([1, 5, 3])))
show("sorted builtin", lambda: sorted(torch.tensor([3, 1, 2])))
show("divmod", lambda: divmod(torch.tensor([7]), 2))
show("matmul scalar error", lambda: torch.tensor(2.0) @ torch.tensor(3.0))
show("pow int neg", lambda: torch.tensor([2]) ** -1)
show("int div zero", lambda: torch.tensor([1]) // 0)
show("float div zero", lambda: torch.tensor([1.0, -1.0, 0.0]) / 0)
show("int true div zero", lambda: torch.tensor([1]) / 0)
show("mod zero int", lambda: torch.tensor([5]) % 0)
