# Every built-in optimizer a few steps on the same Rosenbrock-like problem, with the
# options their docs show (SGD nesterov / dampening, Adam amsgrad, AdamW, NAdam with
# momentum_decay and decoupled_weight_decay, RAdam decoupled, Adamax, Adagrad lr_decay
# and initial_accumulator_value, Adadelta, RMSprop centered with momentum, Rprop, ASGD,
# LBFGS with strong_wolfe), maximize=True, and the printed optimizer repr.
import torch


def rosen(p):
    x, y = p[0], p[1]
    return (1 - x) ** 2 + 5 * (y - x**2) ** 2


def run(make, steps=15, closure_opt=False):
    p = torch.tensor([-1.0, 1.5], requires_grad=True)
    opt = make([p])
    for _ in range(steps):
        if closure_opt:

            def closure():
                opt.zero_grad()
                loss = rosen(p)
                loss.backward()
                return loss

            opt.step(closure)
        else:
            opt.zero_grad()
            rosen(p).backward()
            opt.step()
    return opt, p.detach()


configs = {
    "sgd nesterov": lambda ps: torch.optim.SGD(ps, lr=0.01, momentum=0.9, nesterov=True),
    "sgd dampening": lambda ps: torch.optim.SGD(
        ps, lr=0.01, momentum=0.5, dampening=0.3, weight_decay=0.01
    ),
    "adam amsgrad": lambda ps: torch.optim.Adam(ps, lr=0.05, amsgrad=True),
    "adam wd": lambda ps: torch.optim.Adam(ps, lr=0.05, weight_decay=0.1, betas=(0.8, 0.99)),
    "adamw": lambda ps: torch.optim.AdamW(ps, lr=0.05, weight_decay=0.1),
    "nadam": lambda ps: torch.optim.NAdam(ps, lr=0.05, momentum_decay=0.004),
    "nadam decoupled": lambda ps: torch.optim.NAdam(
        ps, lr=0.05, weight_decay=0.1, decoupled_weight_decay=True
    ),
    "radam": lambda ps: torch.optim.RAdam(ps, lr=0.05),
    "radam decoupled": lambda ps: torch.optim.RAdam(
        ps, lr=0.05, weight_decay=0.1, decoupled_weight_decay=True
    ),
    "adamax": lambda ps: torch.optim.Adamax(ps, lr=0.05),
    "adagrad": lambda ps: torch.optim.Adagrad(
        ps, lr=0.2, lr_decay=0.01, initial_accumulator_value=0.1
    ),
    "adadelta": lambda ps: torch.optim.Adadelta(ps, lr=1.0, rho=0.9),
    "rmsprop centered": lambda ps: torch.optim.RMSprop(ps, lr=0.01, centered=True, momentum=0.5),
    "rprop": lambda ps: torch.optim.Rprop(ps, lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-4, 1.0)),
    "asgd": lambda ps: torch.optim.ASGD(ps, lr=0.01, t0=5),
    "sgd maximize": lambda ps: torch.optim.SGD(ps, lr=0.001, maximize=True),
}
for name, make in configs.items():
    opt, p = run(make)
    print(name, p.tolist(), round(rosen(p).item(), 6))
opt, p = run(
    lambda ps: torch.optim.LBFGS(ps, lr=1, max_iter=10, line_search_fn="strong_wolfe"),
    steps=3,
    closure_opt=True,
)
print("lbfgs strong_wolfe:", p.tolist(), round(rosen(p).item(), 8))
opt, p = run(
    lambda ps: torch.optim.LBFGS(ps, lr=0.1, max_iter=5, history_size=3), steps=3, closure_opt=True
)
print("lbfgs plain:", p.tolist())
print(torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=0.01))
print(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9))
