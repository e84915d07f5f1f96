# The TorchScript tutorial's MyDecisionGate: torch.jit.script keeps Python control flow
# that depends on a tensor's value (`if x.sum() > 0`), where torch.jit.trace would freeze
# the branch taken; then the scripted cell inside a traced RNN loop (MyRNNLoop).
import torch


class MyDecisionGate(torch.nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x
        else:
            return -x


class MyCell(torch.nn.Module):
    def __init__(self, dg):
        super().__init__()
        self.dg = dg
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x, h):
        new_h = torch.tanh(self.dg(self.linear(x)) + h)
        return new_h, new_h


scripted_gate = torch.jit.script(MyDecisionGate())
print("gate pos:", scripted_gate(torch.tensor([1.0, 2.0])))
print("gate neg:", scripted_gate(torch.tensor([-1.0, -2.0])))
cell = MyCell(scripted_gate)
with torch.no_grad():
    cell.linear.weight.copy_(torch.eye(4) * 0.5)
    cell.linear.bias.zero_()
scripted_cell = torch.jit.script(cell)
x, h = torch.ones(3, 4), torch.zeros(3, 4)
print("cell pos:", scripted_cell(x, h)[0][0])
print("cell neg:", scripted_cell(-x, h)[0][0])
