# MAML on sinusoid regression as in the torch.func / higher-order-gradient examples: a
# small MLP used functionally with torch.func.functional_call, inner-loop adaptation with
# torch.autograd.grad(create_graph=True) (second-order MAML) and the first-order variant
# (detached grads), the outer meta-update through the adapted parameters with Adam, and
# the same inner step written with torch.func.grad.
import numpy as np
import torch
import torch.nn as nn
from torch.func import functional_call, grad

rng = np.random.default_rng(23)


def sample_task():
    amp, phase = rng.uniform(0.5, 2.0), rng.uniform(0, np.pi)
    x = rng.uniform(-5, 5, (10, 1)).astype(np.float32)
    y = (amp * np.sin(x + phase)).astype(np.float32)
    return (
        torch.from_numpy(x[:5]),
        torch.from_numpy(y[:5]),
        torch.from_numpy(x[5:]),
        torch.from_numpy(y[5:]),
    )


net = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))
with torch.no_grad():
    for i, p in enumerate(net.parameters()):
        p.copy_(
            torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.91 + i).reshape(p.shape)
            * 0.5
        )
meta_opt = torch.optim.Adam(net.parameters(), lr=1e-3)
inner_lr = 0.01
loss_fn = nn.MSELoss()


def adapt(params, x, y, first_order=False):
    loss = loss_fn(functional_call(net, params, (x,)), y)
    grads = torch.autograd.grad(loss, list(params.values()), create_graph=not first_order)
    return {name: p - inner_lr * g for (name, p), g in zip(params.items(), grads)}


tasks = [sample_task() for _ in range(8)]
for first_order in (False, True):
    for it in range(0, 8, 2):
        meta_opt.zero_grad()
        meta_loss = 0.0
        for x_s, y_s, x_q, y_q in tasks[it : it + 2]:
            params = dict(net.named_parameters())
            fast = adapt(params, x_s, y_s, first_order)
            fast = adapt(fast, x_s, y_s, first_order)
            meta_loss = meta_loss + loss_fn(functional_call(net, fast, (x_q,)), y_q)
        meta_loss = meta_loss / 2
        meta_loss.backward()
        meta_opt.step()
        print(
            "first_order" if first_order else "second_order",
            it,
            round(meta_loss.item(), 5),
            round(net[0].weight.grad.norm().item(), 6),
        )

x_s, y_s, x_q, y_q = tasks[0]
params = {k: v.detach() for k, v in net.named_parameters()}


def compute_loss(params, x, y):
    return loss_fn(functional_call(net, params, (x,)), y)


g = grad(compute_loss)(params, x_s, y_s)
fast_func = {k: params[k] - inner_lr * g[k] for k in params}
fast_tape = adapt(dict(net.named_parameters()), x_s, y_s, first_order=True)
print(
    "func.grad step equals autograd.grad:",
    all(torch.allclose(fast_func[k], fast_tape[k], atol=1e-6) for k in params),
)
print(
    "query loss before/after:",
    round(compute_loss(params, x_q, y_q).item(), 5),
    round(compute_loss(fast_func, x_q, y_q).item(), 5),
)
