# torch.export tutorial pieces: an ExportedProgram's graph_signature (input_specs kinds
# and targets for parameters, buffers and user inputs; output_specs, and a buffer
# mutation's BUFFER_MUTATION output), ep.state_dict keys, dynamic shapes with Dim
# (min / max) and the error on a violating input, a derived dim (2 * dim),
# run_decompositions keeping results, and ep.module() called with new shapes.
import torch
from torch.export import Dim, export


class M(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)
        self.register_buffer("offset", torch.tensor(0.5))
        with torch.no_grad():
            self.linear.weight.copy_(torch.arange(12.0).view(3, 4) / 10 - 0.5)
            self.linear.bias.copy_(torch.tensor([0.1, 0.0, -0.1]))

    def forward(self, x, y):
        return torch.relu(self.linear(x)) + y.sum() + self.offset


m = M()
x = torch.linspace(-1, 1, 8).view(2, 4)
y = torch.tensor([0.5, 0.25])
ep = export(m, (x, y))
sig = ep.graph_signature
for spec in sig.input_specs:
    print("input spec:", spec.kind.name, spec.target)
for spec in sig.output_specs:
    print("output spec:", spec.kind.name, spec.target)
print("parameters:", list(sig.parameters))
print("buffers:", list(sig.buffers))
print("state_dict keys:", sorted(ep.state_dict.keys()))
m2 = M()
result = ep.module()(x, y)
print("result:", [[round(v, 4) for v in row] for row in result.tolist()])
print("equals eager:", torch.allclose(result, m2(x, y)))
print("result requires_grad:", result.requires_grad)

batch = Dim("batch", min=1, max=16)
ep_dyn = export(M(), (x, y), dynamic_shapes={"x": {0: batch}, "y": None})
print("dyn batch 5:", ep_dyn.module()(torch.ones(5, 4), y).shape)
try:
    ep_dyn.module()(torch.ones(5, 3), y)
except Exception as e:
    print("bad shape error:", type(e).__name__)
try:
    ep.module()(torch.ones(3, 4), y)
except Exception as e:
    print("static shape error:", type(e).__name__)


class Concat(torch.nn.Module):
    def forward(self, a, b):
        return torch.cat([a, a], dim=0) + b


n = Dim("n", min=2, max=32)
try:
    ep_derived = export(
        Concat(),
        (torch.ones(3, 2), torch.ones(6, 2)),
        dynamic_shapes={"a": {0: n}, "b": {0: 2 * n}},
    )
    print(
        "derived:", ep_derived.module()(torch.arange(8.0).view(4, 2), torch.ones(8, 2)).sum().item()
    )
except Exception as e:
    print("derived:", type(e).__name__)

decomposed = ep.run_decompositions()
print("decomposed equal:", torch.allclose(decomposed.module()(x, y), M()(x, y)))
print("decomposed signature:", [s.kind.name for s in decomposed.graph_signature.input_specs])


# a buffer updated in place (a step counter) is exported as a BUFFER_MUTATION output
class Counter(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("steps", torch.zeros(()))

    def forward(self, x):
        self.steps.add_(1)
        return x * self.steps


try:
    ep_mut = export(Counter(), (torch.ones(2),))
    print("mutation specs:", [s.kind.name for s in ep_mut.graph_signature.output_specs])
    print("buffers to mutate:", list(ep_mut.graph_signature.buffers_to_mutate.values()))
except Exception as e:
    print("mutation specs:", type(e).__name__)
    print("buffers to mutate:", type(e).__name__)
