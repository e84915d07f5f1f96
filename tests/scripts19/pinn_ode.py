# Physics-informed neural networks as written in many tutorials: collocation points with
# requires_grad, derivatives of the network's output with torch.autograd.grad(outputs,
# inputs, grad_outputs=torch.ones_like(u), create_graph=True) (first and second order),
# the residual of u'' + u = 0 plus boundary losses, Adam then LBFGS(line_search_fn=
# "strong_wolfe"), and the error against the exact solution, all in float64.
import torch
import torch.nn as nn

torch.set_default_dtype(torch.float64)


class PINN(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(1, 12), nn.Tanh(), nn.Linear(12, 12), nn.Tanh(), nn.Linear(12, 1)
        )

    def forward(self, x):
        return self.net(x)


model = PINN()
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(
            torch.sin(torch.arange(p.numel(), dtype=torch.float64) * 0.73 + i).reshape(p.shape)
            * 0.6
        )
print("default dtype:", torch.get_default_dtype(), model.net[0].weight.dtype)

x = torch.linspace(0, torch.pi / 2, 25).reshape(-1, 1).requires_grad_(True)
x0 = torch.zeros(1, 1, requires_grad=True)


def derivatives(x):
    u = model(x)
    u_x = torch.autograd.grad(u, x, grad_outputs=torch.ones_like(u), create_graph=True)[0]
    u_xx = torch.autograd.grad(u_x, x, grad_outputs=torch.ones_like(u_x), create_graph=True)[0]
    return u, u_x, u_xx


def loss_fn():
    u, u_x, u_xx = derivatives(x)
    residual = u_xx + u
    u0, u0_x, _ = derivatives(x0)
    return (residual**2).mean() + (u0 - 0.0).pow(2).sum() + (u0_x - 1.0).pow(2).sum()


u, u_x, u_xx = derivatives(x)
print("u_x shape:", list(u_x.shape), "requires_grad:", u_x.requires_grad, "leaf:", u_x.is_leaf)
print("initial loss:", round(loss_fn().item(), 8))
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
for epoch in range(30):
    optimizer.zero_grad()
    loss = loss_fn()
    loss.backward()
    optimizer.step()
    if epoch % 10 == 9:
        print("adam", epoch, round(loss.item(), 8))
lbfgs = torch.optim.LBFGS(model.parameters(), lr=1.0, max_iter=20, line_search_fn="strong_wolfe")


def closure():
    lbfgs.zero_grad()
    loss = loss_fn()
    loss.backward()
    return loss


for i in range(2):
    loss = lbfgs.step(closure)
    print("lbfgs", i, f"{loss.item():.6e}")
with torch.no_grad():
    xt = torch.linspace(0, torch.pi / 2, 7).reshape(-1, 1)
    err = (model(xt) - torch.sin(xt)).abs().max().item()
print("max error below 0.05:", err < 0.05)
print("x.grad untouched:", x.grad is None)
