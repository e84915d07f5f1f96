# torch.fx as its docs and the "(beta) Building a Simple CPU Performance Profiler with
# FX" / "FX transformations" tutorials use it: symbolic_trace of a module, iterating the
# graph's nodes (op, name, target), replacing torch.add with torch.mul by a graph rewrite
# + recompile, inserting a relu after a node, and a GraphModule whose result is checked.
import operator

import torch
import torch.fx
from torch import nn


class MyModule(nn.Module):
    def __init__(self):
        super().__init__()
        self.param = nn.Parameter(torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]]))
        self.linear = nn.Linear(3, 2)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[0.5, -0.5, 1.0], [1.0, 0.0, -1.0]]))
            self.linear.bias.copy_(torch.tensor([0.1, -0.2]))

    def forward(self, x):
        return self.linear(x + self.param).clamp(min=0.0, max=1.0)


module = MyModule()
symbolic_traced = torch.fx.symbolic_trace(module)
for node in symbolic_traced.graph.nodes:
    target = (
        node.target
        if isinstance(node.target, str)
        else getattr(node.target, "__name__", str(node.target))
    )
    print("node:", node.op, node.name, target)
x = torch.tensor([[0.1, 0.2, 0.3], [-1.0, 0.0, 1.0], [2.0, -3.0, 0.5]])
print("traced == eager:", torch.equal(symbolic_traced(x), module(x)))
print("is GraphModule:", isinstance(symbolic_traced, torch.fx.GraphModule))


class M(nn.Module):
    def forward(self, x, y):
        return torch.add(x, y) + y


def transform(m: nn.Module) -> nn.Module:
    gm = torch.fx.symbolic_trace(m)
    for node in gm.graph.nodes:
        if node.op == "call_function":
            if node.target in (torch.add, operator.add):
                node.target = torch.mul
    gm.graph.lint()
    gm.recompile()
    return gm


a = torch.tensor([1.0, 2.0, 3.0])
b = torch.tensor([4.0, 5.0, 6.0])
print("original:", M()(a, b))
print("transformed:", transform(M())(a, b))


def insert_relu(m):
    gm = torch.fx.symbolic_trace(m)
    for node in list(gm.graph.nodes):
        if node.op == "call_function" and node.target in (torch.add, operator.add):
            with gm.graph.inserting_after(node):
                new = gm.graph.call_function(torch.relu, args=(node,))
                node.replace_all_uses_with(new)
                new.args = (node,)
            break
    gm.recompile()
    return gm


relu_gm = insert_relu(M())
print("with relu:", relu_gm(torch.tensor([-5.0, 1.0, 2.0]), torch.tensor([1.0, -2.0, 3.0])))
print("ops:", [n.op for n in relu_gm.graph.nodes])
