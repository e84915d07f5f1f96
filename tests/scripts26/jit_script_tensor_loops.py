# torch.jit.script on functions whose control flow depends on tensor values, the
# TorchScript tutorial's cases beyond a single `if`: a while loop running until a
# tensor condition holds, an early-exit for loop over rows, and a scripted module that
# branches on its input's sum; each result is compared with the plain Python function.
import torch


def halve_until_small(x: torch.Tensor) -> torch.Tensor:
    steps = 0
    while bool(x.norm() > 1.0):
        x = x / 2
        steps += 1
    return x * 0 + steps


def first_positive_row(x: torch.Tensor) -> torch.Tensor:
    for i in range(x.size(0)):
        if bool(x[i].sum() > 0):
            return x[i]
    return torch.zeros(x.size(1))


scripted = torch.jit.script(halve_until_small)
print(
    "while loop:", scripted(torch.tensor([3.0, 4.0])), halve_until_small(torch.tensor([3.0, 4.0]))
)
print("while loop 2:", scripted(torch.tensor([0.1, 0.2])))
scripted_row = torch.jit.script(first_positive_row)
m = torch.tensor([[-1.0, -2.0], [3.0, -1.0], [5.0, 5.0]])
print("early exit:", scripted_row(m), first_positive_row(m))
print("no positive:", scripted_row(-m.abs()))


class MyDecisionGate(torch.nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x
        else:
            return -x


gate = torch.jit.script(MyDecisionGate())
print("gate:", gate(torch.tensor([1.0, -0.5])), gate(torch.tensor([-1.0, -0.5])))
