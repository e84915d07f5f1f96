# Numerical derivatives and integrals with tensor ops, the torch.gradient /
# torch.diff / torch.trapezoid / torch.cumulative_trapezoid docs examples: central
# differences with unit, scalar, per-dimension and coordinate spacing, edge_order=2, a
# chosen dim, integer input, diff with prepend / append, and integration of a sampled
# curve (compared with the exact value).
import math

import torch

t = torch.tensor([4.0, 1.0, 1.0, 16.0])
print("gradient:", torch.gradient(t))
coordinates = (torch.tensor([-2.0, -1.0, 1.0, 4.0]),)
values = torch.tensor([4.0, 1.0, 1.0, 16.0])
print("coordinates:", torch.gradient(values, spacing=coordinates))
t2 = torch.tensor([[1, 2, 4, 8], [10, 20, 40, 80]])
print("2-D:", torch.gradient(t2))
print("spacing 2.0:", torch.gradient(t2, spacing=2.0))
print("dim=1:", torch.gradient(t2, dim=1))
print("spacing per dim:", torch.gradient(t2, spacing=[3.0, 2.0]))
print("edge_order=2:", torch.gradient(torch.tensor([1.0, 4.0, 9.0, 16.0, 25.0]), edge_order=2))
x = torch.linspace(0, math.pi, 50)
(dsin,) = torch.gradient(torch.sin(x), spacing=(x,))
print("d/dx sin max error:", round((dsin - torch.cos(x)).abs().max().item(), 4))
print("diff:", torch.diff(torch.tensor([1, 3, 2])).tolist())
print(
    "diff prepend/append:",
    torch.diff(
        torch.tensor([1, 3, 2]), prepend=torch.tensor([-1, 0]), append=torch.tensor([5])
    ).tolist(),
)
print("diff 2-D dim 0:", torch.diff(torch.tensor([[1, 2, 3], [3, 4, 5]]), dim=0).tolist())
print(
    "trapezoid:",
    torch.trapezoid(torch.tensor([1.0, 5.0, 10.0])).item(),
    torch.trapezoid(torch.tensor([1.0, 5.0, 10.0]), dx=2).item(),
)
print(
    "trapezoid x:",
    torch.trapezoid(torch.tensor([1.0, 5.0, 10.0]), torch.tensor([1.0, 3.0, 6.0])).item(),
)
print("integral of sin:", round(torch.trapezoid(torch.sin(x), x).item(), 5))
print("cumulative:", torch.cumulative_trapezoid(torch.tensor([1.0, 5.0, 10.0])).tolist())
w = torch.tensor([1.0, 4.0, 9.0, 16.0], requires_grad=True)
torch.gradient(w)[0].pow(2).sum().backward()
print("gradient is differentiable:", w.grad.tolist())
