# The learning-rate schedulers of torch.optim.lr_scheduler as their docs use them:
# MultiplicativeLR, ConstantLR, PolynomialLR, CyclicLR (triangular2, exp_range, with
# momentum cycling), ReduceLROnPlateau (mode, patience, threshold, cooldown, min_lr) fed
# validation losses, ChainedScheduler of ExponentialLR + ConstantLR, SequentialLR with a
# warmup, get_last_lr, and state_dict of each.
import torch
from torch.optim import lr_scheduler


def opt(lr=0.1, momentum=0.9):
    return torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=lr, momentum=momentum)


def run(make, steps=8, metrics=None):
    o = opt()
    s = make(o)
    lrs = []
    for i in range(steps):
        o.step()
        if metrics is None:
            s.step()
        else:
            s.step(metrics[i])
        lrs.append(round(o.param_groups[0]["lr"], 8))
    return lrs, s, o


print(
    "multiplicative:", run(lambda o: lr_scheduler.MultiplicativeLR(o, lr_lambda=lambda e: 0.9))[0]
)
print("constant:", run(lambda o: lr_scheduler.ConstantLR(o, factor=0.5, total_iters=3))[0])
print("polynomial:", run(lambda o: lr_scheduler.PolynomialLR(o, total_iters=6, power=2.0))[0])
lrs, s, o = run(
    lambda o: lr_scheduler.CyclicLR(
        o, base_lr=0.01, max_lr=0.1, step_size_up=2, mode="triangular2"
    ),
    12,
)
print("cyclic triangular2:", lrs)
print("cyclic momentum:", round(o.param_groups[0]["momentum"], 6))
lrs, s, o = run(
    lambda o: lr_scheduler.CyclicLR(
        o,
        base_lr=0.01,
        max_lr=0.1,
        step_size_up=3,
        mode="exp_range",
        gamma=0.9,
        cycle_momentum=False,
    ),
    10,
)
print("cyclic exp_range:", lrs)
losses = [1.0, 0.9, 0.95, 0.96, 0.97, 0.97, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6]
lrs, s, o = run(
    lambda o: lr_scheduler.ReduceLROnPlateau(
        o, mode="min", factor=0.5, patience=1, threshold=0.01, cooldown=1, min_lr=0.02
    ),
    12,
    losses,
)
print("plateau:", lrs)
print(
    "plateau state:",
    s.best,
    s.num_bad_epochs,
    s.cooldown_counter,
    [round(v, 6) for v in s.get_last_lr()],
)
lrs, s, o = run(
    lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="max", factor=0.1, patience=0),
    5,
    [0.1, 0.2, 0.2, 0.3, 0.1],
)
print("plateau max:", lrs)
lrs, s, o = run(
    lambda o: lr_scheduler.ChainedScheduler(
        [
            lr_scheduler.ConstantLR(o, factor=0.1, total_iters=2),
            lr_scheduler.ExponentialLR(o, gamma=0.9),
        ]
    )
)
print("chained:", lrs)
lrs, s, o = run(
    lambda o: lr_scheduler.SequentialLR(
        o,
        schedulers=[
            lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=3),
            lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
        ],
        milestones=[3],
    ),
    10,
)
print("sequential warmup:", lrs)
print("sequential last:", [round(v, 8) for v in s.get_last_lr()], s.last_epoch)
o = opt()
s = lr_scheduler.StepLR(o, step_size=3, gamma=0.5)
for _ in range(4):
    o.step()
    s.step()
print(
    "step state:",
    {
        k: v
        for k, v in s.state_dict().items()
        if k in ("step_size", "gamma", "last_epoch", "base_lrs", "_last_lr")
    },
)
