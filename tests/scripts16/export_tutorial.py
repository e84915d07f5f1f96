# "torch.export Tutorial": export a module to an ExportedProgram, run ep.module(), dynamic
# shapes with torch.export.Dim (min/max), shape errors on the static export, export with
# keyword arguments and constant (non-tensor) inputs, run_decompositions, and
# torch.export.save / torch.export.load through a BytesIO.
import io

import numpy as np
import torch
from torch.export import Dim, export

rng = np.random.default_rng(8)


class MyModule(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(100, 10)

    def forward(self, x, y):
        return torch.nn.functional.relu(self.lin(x + y), inplace=True)


mod = MyModule()
with torch.no_grad():
    mod.lin.weight.copy_(torch.from_numpy(rng.uniform(-0.1, 0.1, (10, 100)).astype(np.float32)))
    mod.lin.bias.copy_(torch.from_numpy(rng.uniform(-0.1, 0.1, 10).astype(np.float32)))
x = torch.from_numpy(rng.standard_normal((8, 100)).astype(np.float32))
y = torch.from_numpy(rng.standard_normal((8, 100)).astype(np.float32))
exported_mod = export(mod, (x, y))
print("type:", type(exported_mod).__name__)
out = exported_mod.module()(x, y)
print("exported:", list(out.shape), torch.allclose(out, mod(x, y)), out.sum().item().__round__(4))
print("state_dict keys:", sorted(exported_mod.state_dict.keys()))

try:
    exported_mod.module()(torch.randn(10, 100), torch.randn(10, 100))
    print("static shape mismatch: accepted")
except Exception:
    print("static shape mismatch: raised")


class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.branch1 = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU())
        self.branch2 = torch.nn.Sequential(torch.nn.Linear(128, 64), torch.nn.ReLU())
        self.buffer = torch.ones(32)

    def forward(self, x1, x2):
        out1 = self.branch1(x1)
        out2 = self.branch2(x2)
        return (out1 + self.buffer, out2)


m = M()
with torch.no_grad():
    for p in m.parameters():
        p.copy_(torch.from_numpy(rng.uniform(-0.1, 0.1, tuple(p.shape)).astype(np.float32)))
example_args = (torch.ones(32, 64), torch.ones(32, 128))
batch = Dim("batch")
dynamic_shapes = {"x1": {0: batch}, "x2": {0: batch}}
ep = export(m, example_args, dynamic_shapes=dynamic_shapes)
for n in (32, 7, 2):
    a1 = torch.from_numpy(rng.standard_normal((n, 64)).astype(np.float32))
    a2 = torch.from_numpy(rng.standard_normal((n, 128)).astype(np.float32))
    o1, o2 = ep.module()(a1, a2)
    e1, e2 = m(a1, a2)
    print(
        f"dynamic batch {n}:",
        list(o1.shape),
        list(o2.shape),
        torch.allclose(o1, e1, atol=1e-6) and torch.allclose(o2, e2, atol=1e-6),
    )
try:
    ep.module()(torch.randn(8, 64), torch.randn(9, 128))
    print("mismatched batch: accepted")
except Exception:
    print("mismatched batch: raised")

bounded = Dim("bounded", min=2, max=16)
ep_bounded = export(
    m,
    (torch.ones(4, 64), torch.ones(4, 128)),
    dynamic_shapes={"x1": {0: bounded}, "x2": {0: bounded}},
)
print("bounded ok:", list(ep_bounded.module()(torch.ones(16, 64), torch.ones(16, 128))[0].shape))
try:
    ep_bounded.module()(torch.ones(20, 64), torch.ones(20, 128))
    print("above max: accepted")
except Exception:
    print("above max: raised")


class WithKwargs(torch.nn.Module):
    def forward(self, x, *, scale=1.0, bias=None):
        out = x * scale
        if bias is not None:
            out = out + bias
        return out


ep_kw = export(WithKwargs(), (torch.ones(3),), kwargs={"scale": 2.0, "bias": torch.full((3,), 0.5)})
print("kwargs:", ep_kw.module()(torch.arange(3.0), scale=2.0, bias=torch.full((3,), 0.5)).tolist())

decomposed = exported_mod.run_decompositions()
print("decomposed:", type(decomposed).__name__, torch.allclose(decomposed.module()(x, y), out))

buffer = io.BytesIO()
torch.export.save(ep, buffer)
buffer.seek(0)
loaded = torch.export.load(buffer)
r1, r2 = loaded.module()(torch.ones(5, 64), torch.ones(5, 128))
print(
    "saved and loaded:",
    list(r1.shape),
    torch.allclose(r1, m(torch.ones(5, 64), torch.ones(5, 128))[0], atol=1e-6),
)
