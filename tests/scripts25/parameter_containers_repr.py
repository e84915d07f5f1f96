# nn.ParameterList / nn.ParameterDict / nn.ModuleList / nn.ModuleDict as models build
# them, and how they print: append / extend / insert / update, indexing and iteration,
# registration (they appear in parameters() and state_dict()), a mixed custom module with
# buffers, Parameter(requires_grad=False), and the summary lines users print by hand.
import torch
from torch import nn


class Mixture(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.means = nn.ParameterList([nn.Parameter(torch.full((2,), float(i))) for i in range(k)])
        self.scales = nn.ParameterDict(
            {"a": nn.Parameter(torch.ones(2)), "b": nn.Parameter(torch.ones(3, 2))}
        )
        self.experts = nn.ModuleList([nn.Linear(2, 2) for _ in range(2)])
        self.gates = nn.ModuleDict({"soft": nn.Softmax(dim=-1), "relu": nn.ReLU()})
        self.register_buffer("counts", torch.zeros(k))
        self.fixed = nn.Parameter(torch.ones(1), requires_grad=False)


m = Mixture(3)
print(m)
print(m.means)
print(m.scales)
print("means[1]:", m.means[1])
print("len:", len(m.means), len(m.scales), len(m.experts), len(m.gates))
m.means.append(nn.Parameter(torch.zeros(2)))
m.means.extend([nn.Parameter(torch.ones(2))])
m.scales.update({"c": nn.Parameter(torch.zeros(1))})
m.experts.insert(0, nn.Identity())
m.gates["tanh"] = nn.Tanh()
print(
    "after add:",
    len(m.means),
    list(m.scales.keys()),
    [type(e).__name__ for e in m.experts],
    list(m.gates),
)
print("param names:", [n for n, _ in m.named_parameters()])
print("state_dict:", list(m.state_dict()))
print(
    "requires_grad:",
    {n: p.requires_grad for n, p in m.named_parameters() if n.startswith(("fixed", "scales.a"))},
)
print("items:", [(k, tuple(v.shape)) for k, v in m.scales.items()])
print("pop:", m.scales.pop("c").shape, "c" in m.scales, list(m.scales))
print("iterate:", [p.sum().item() for p in m.means])
print("slice:", type(m.means[1:3]).__name__, len(m.means[1:3]))
print("modulelist slice:", m.experts[1:])
print("moduledict:", m.gates)
total = sum(p.numel() for p in m.parameters())
trainable = sum(p.numel() for p in m.parameters() if p.requires_grad)
print(f"Total params: {total:,} | trainable: {trainable:,}")
for name, module in m.named_modules():
    if name:
        print("module", name, type(module).__name__)
print(nn.ParameterList())
print(nn.ParameterDict())
