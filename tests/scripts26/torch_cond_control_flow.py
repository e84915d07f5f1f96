# Data-dependent control flow the way the torch.export docs recommend it: torch.cond
# with true / false branch functions (closing over nothing, taking operands), used
# eagerly, inside an nn.Module, with gradients flowing through the taken branch, and
# under torch.export with a dynamic batch; the same choice written with torch.where.
import torch
from torch.export import Dim, export


def true_fn(x: torch.Tensor):
    return x.cos()


def false_fn(x: torch.Tensor):
    return x.sin()


x = torch.tensor([0.5, 1.0, 1.5])
print("cond true:", torch.cond(x.sum() > 0, true_fn, false_fn, (x,)))
print("cond false:", torch.cond(x.sum() > 10, true_fn, false_fn, (x,)))
print("cond python bool:", torch.cond(False, true_fn, false_fn, (x,)))


class DynamicShapeCondPredicate(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def true_fn(x: torch.Tensor):
            return x.cos() + 1

        def false_fn(x: torch.Tensor):
            return x.sin() - 1

        return torch.cond(x.shape[0] > 4, true_fn, false_fn, (x,))


dyn = DynamicShapeCondPredicate()
print("module small:", dyn(torch.ones(3)))
print("module large:", dyn(torch.ones(5)))

w = torch.tensor([0.3, -0.2, 0.9], requires_grad=True)
out = torch.cond(w.sum() > 0, lambda v: (v * v).sum(), lambda v: v.sum(), (w,))
out.backward()
print("grad through cond:", w.grad)


class DataDependent(torch.nn.Module):
    def forward(self, x, y):
        def t(x, y):
            return x + y

        def f(x, y):
            return x - y

        return torch.cond(x.sum() > y.sum(), t, f, (x, y))


batch = Dim("batch", min=2, max=8)
ep = export(
    DataDependent(),
    (torch.ones(3, 2), torch.zeros(3, 2)),
    dynamic_shapes={"x": {0: batch}, "y": {0: batch}},
)
a = torch.arange(8.0).view(4, 2)
b = torch.ones(4, 2)
print("exported:", ep.module()(a, b))
print("exported other branch:", ep.module()(b, a))
print("where:", torch.where(a.sum() > b.sum(), a + b, a - b))
