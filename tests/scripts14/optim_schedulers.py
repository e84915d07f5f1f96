# "Learning PyTorch with examples" (fit a third-order polynomial to sin(x)) with several
# optimizers, and the learning-rate schedulers of torch.optim.lr_scheduler.
import math

import torch

x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)
p = torch.tensor([1, 2, 3])
xx = x.unsqueeze(-1).pow(p)
print("xx:", list(xx.shape))


def make_model():
    model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[0.1, -0.2, 0.05]]))
        model[0].bias.fill_(0.3)
    return model


loss_fn = torch.nn.MSELoss(reduction="sum")

optimizers = {
    "SGD": lambda ps: torch.optim.SGD(ps, lr=1e-6),
    "SGD momentum nesterov": lambda ps: torch.optim.SGD(ps, lr=1e-6, momentum=0.9, nesterov=True),
    "SGD wd dampening": lambda ps: torch.optim.SGD(
        ps, lr=1e-6, momentum=0.5, dampening=0.1, weight_decay=1e-2
    ),
    "Adam": lambda ps: torch.optim.Adam(ps, lr=1e-2),
    "Adam amsgrad": lambda ps: torch.optim.Adam(ps, lr=1e-2, amsgrad=True, weight_decay=1e-3),
    "AdamW": lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1),
    "RMSprop": lambda ps: torch.optim.RMSprop(ps, lr=1e-3),
    "RMSprop centered momentum": lambda ps: torch.optim.RMSprop(
        ps, lr=1e-3, momentum=0.5, centered=True
    ),
    "Adagrad": lambda ps: torch.optim.Adagrad(ps, lr=1e-1),
    "Adadelta": lambda ps: torch.optim.Adadelta(ps, lr=1.0),
    "Adamax": lambda ps: torch.optim.Adamax(ps, lr=1e-2),
    "NAdam": lambda ps: torch.optim.NAdam(ps, lr=1e-2),
    "RAdam": lambda ps: torch.optim.RAdam(ps, lr=1e-2),
}

for name, make in optimizers.items():
    model = make_model()
    optimizer = make(model.parameters())
    for t in range(200):
        y_pred = model(xx)
        loss = loss_fn(y_pred, y)
        if t % 50 == 49:
            print(f"{name} {t}: {loss.item():.4f}")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    linear_layer = model[0]
    w = (
        linear_layer.weight[:, 0].item(),
        linear_layer.weight[:, 1].item(),
        linear_layer.weight[:, 2].item(),
    )
    print(
        f"{name} result: y = {linear_layer.bias.item():.5f} + {w[0]:.5f} x "
        f"+ {w[1]:.5f} x^2 + {w[2]:.5f} x^3"
    )

# LBFGS with a closure
model = make_model()
optimizer = torch.optim.LBFGS(model.parameters(), lr=0.5, max_iter=20)


def closure():
    optimizer.zero_grad()
    loss = loss_fn(model(xx), y)
    loss.backward()
    return loss


for _ in range(3):
    loss = optimizer.step(closure)
print(f"LBFGS loss: {loss_fn(model(xx), y).item():.4f}")

# parameter groups
model = make_model()
optimizer = torch.optim.SGD(
    [{"params": model[0].weight}, {"params": model[0].bias, "lr": 1e-3}], lr=1e-6, momentum=0.9
)
print("param groups:", len(optimizer.param_groups), [g["lr"] for g in optimizer.param_groups])

# schedulers: print the learning rate the optimizer sees at each epoch


def run(name, make_sched, epochs=12, metric=None):
    model = make_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = make_sched(optimizer)
    lrs = []
    for epoch in range(epochs):
        optimizer.zero_grad()
        loss_fn(model(xx[:10]), y[:10]).backward()
        optimizer.step()
        lrs.append(round(optimizer.param_groups[0]["lr"], 8))
        if metric is None:
            scheduler.step()
        else:
            scheduler.step(metric[epoch])
    print(f"{name}: {lrs}")
    if metric is None:
        print(f"{name} last_lr: {[round(v, 8) for v in scheduler.get_last_lr()]}")
    return scheduler


run("StepLR", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5))
run(
    "MultiStepLR",
    lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[2, 5, 9], gamma=0.1),
)
run("ExponentialLR", lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9))
run(
    "CosineAnnealingLR",
    lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001),
)
run("LambdaLR", lambda o: torch.optim.lr_scheduler.LambdaLR(o, lr_lambda=lambda epoch: 0.95**epoch))
run(
    "MultiplicativeLR",
    lambda o: torch.optim.lr_scheduler.MultiplicativeLR(o, lr_lambda=lambda epoch: 0.8),
)
run("LinearLR", lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, total_iters=4))
run("ConstantLR", lambda o: torch.optim.lr_scheduler.ConstantLR(o, factor=0.5, total_iters=3))
run("OneCycleLR", lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.5, total_steps=12))
run(
    "CyclicLR",
    lambda o: torch.optim.lr_scheduler.CyclicLR(o, base_lr=0.01, max_lr=0.1, step_size_up=3),
)
run(
    "CosineAnnealingWarmRestarts",
    lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2, eta_min=0.0),
)
run(
    "SequentialLR",
    lambda o: torch.optim.lr_scheduler.SequentialLR(
        o,
        schedulers=[
            torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=3),
            torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
        ],
        milestones=[3],
    ),
)
run(
    "ChainedScheduler",
    lambda o: torch.optim.lr_scheduler.ChainedScheduler(
        [
            torch.optim.lr_scheduler.ConstantLR(o, factor=0.5, total_iters=4),
            torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
        ]
    ),
)
plateau = run(
    "ReduceLROnPlateau",
    lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=1),
    metric=[1.0, 0.9, 0.95, 0.97, 0.99, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1],
)

# scheduler state_dict round trip
model = make_model()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
sched = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
for _ in range(3):
    optimizer.step()
    sched.step()
state = sched.state_dict()
print(
    "scheduler state:",
    state["last_epoch"],
    state["step_size"],
    state["gamma"],
    [round(v, 6) for v in state["_last_lr"]],
)
sched2 = torch.optim.lr_scheduler.StepLR(
    torch.optim.SGD(make_model().parameters(), lr=0.1), step_size=5
)
sched2.load_state_dict(state)
print("loaded scheduler:", sched2.last_epoch, sched2.step_size)
