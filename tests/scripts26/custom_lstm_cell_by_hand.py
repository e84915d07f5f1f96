# Writing an LSTM / GRU cell by hand, as the "custom RNN" examples (and the TorchScript
# custom-RNN benchmark) do: gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh, chunk(4, 1) into
# input / forget / cell / output gates with sigmoid / tanh, the GRU's reset-gated
# candidate, the cells unrolled over a sequence with torch.unbind and torch.stack, and
# outputs / gradients equal to nn.LSTMCell, nn.LSTM and nn.GRUCell holding the same weights.
import torch
import torch.nn as nn

torch.set_default_dtype(torch.float64)


class LSTMCellByHand(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size))

    def forward(self, input, state):
        hx, cx = state
        gates = (
            torch.mm(input, self.weight_ih.t())
            + self.bias_ih
            + torch.mm(hx, self.weight_hh.t())
            + self.bias_hh
        )
        ingate, forgetgate, cellgate, outgate = gates.chunk(4, 1)
        ingate = torch.sigmoid(ingate)
        forgetgate = torch.sigmoid(forgetgate)
        cellgate = torch.tanh(cellgate)
        outgate = torch.sigmoid(outgate)
        cy = (forgetgate * cx) + (ingate * cellgate)
        hy = outgate * torch.tanh(cy)
        return hy, (hy, cy)


def gru_cell(x, h, w_ih, w_hh, b_ih, b_hh):
    gi = x @ w_ih.t() + b_ih
    gh = h @ w_hh.t() + b_hh
    i_r, i_z, i_n = gi.chunk(3, 1)
    h_r, h_z, h_n = gh.chunk(3, 1)
    r = torch.sigmoid(i_r + h_r)
    z = torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return (1 - z) * n + z * h


def fill(module, phase):
    with torch.no_grad():
        for i, p in enumerate(module.parameters()):
            p.copy_(
                torch.sin(torch.arange(p.numel(), dtype=torch.float64) * 0.37 + i + phase).view_as(
                    p
                )
                * 0.4
            )


cell = LSTMCellByHand(3, 4)
ref = nn.LSTMCell(3, 4)
fill(ref, 0.0)
with torch.no_grad():
    cell.weight_ih.copy_(ref.weight_ih)
    cell.weight_hh.copy_(ref.weight_hh)
    cell.bias_ih.copy_(ref.bias_ih)
    cell.bias_hh.copy_(ref.bias_hh)
seq = torch.cos(torch.arange(5 * 2 * 3, dtype=torch.float64) * 0.5).view(5, 2, 3)
state = (torch.zeros(2, 4), torch.zeros(2, 4))
outputs = []
for x in torch.unbind(seq, 0):
    out, state = cell(x, state)
    outputs.append(out)
outputs = torch.stack(outputs)
h, c = torch.zeros(2, 4), torch.zeros(2, 4)
ref_outputs = []
for x in seq:
    h, c = ref(x, (h, c))
    ref_outputs.append(h)
print("cell == LSTMCell:", torch.allclose(outputs, torch.stack(ref_outputs)))
print("last hidden:", outputs[-1])

lstm = nn.LSTM(3, 4)
with torch.no_grad():
    lstm.weight_ih_l0.copy_(ref.weight_ih)
    lstm.weight_hh_l0.copy_(ref.weight_hh)
    lstm.bias_ih_l0.copy_(ref.bias_ih)
    lstm.bias_hh_l0.copy_(ref.bias_hh)
lstm_out, (h_n, c_n) = lstm(seq)
print("cell == LSTM:", torch.allclose(outputs, lstm_out), torch.allclose(state[1], c_n[0]))

outputs.pow(2).sum().backward()
lstm_out.pow(2).sum().backward()
print("grad W_hh equal:", torch.allclose(cell.weight_hh.grad, lstm.weight_hh_l0.grad))
print("grad b_ih:", cell.bias_ih.grad[:4])

gru = nn.GRUCell(3, 4)
fill(gru, 1.0)
h1 = torch.zeros(2, 4)
h2 = torch.zeros(2, 4)
for x in seq:
    h1 = gru(x, h1)
    h2 = gru_cell(x, h2, gru.weight_ih, gru.weight_hh, gru.bias_ih, gru.bias_hh)
print("gru by hand:", torch.allclose(h1, h2), h2[0])
