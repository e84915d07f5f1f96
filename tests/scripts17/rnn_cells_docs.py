# The recurrent-layer docs examples: nn.RNNCell / LSTMCell / GRUCell stepped in a Python
# loop, nn.RNN with relu and h0, a 2-layer bidirectional GRU, an LSTM with proj_size,
# unbatched inputs, batch_first, and the parameter names / shapes state dicts rely on.
import torch
import torch.nn as nn


def init(module, scale=0.4):
    with torch.no_grad():
        for i, (_name, p) in enumerate(sorted(module.named_parameters())):
            p.copy_(
                torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.77 + i).reshape(p.shape)
                * scale
            )


def show(name, t):
    print(
        f"{name}:",
        list(t.shape),
        round(t.sum().item(), 5),
        t.reshape(-1)[:4].detach().numpy().round(5).tolist(),
    )


input = torch.cos(torch.arange(6 * 3 * 10, dtype=torch.float32) * 0.1).reshape(6, 3, 10)
rnn = nn.RNNCell(10, 20)
init(rnn)
hx = torch.zeros(3, 20)
output = []
for i in range(6):
    hx = rnn(input[i], hx)
    output.append(hx)
show("RNNCell", torch.stack(output, dim=0))
rnn_relu = nn.RNNCell(10, 20, nonlinearity="relu")
init(rnn_relu)
show("RNNCell relu", rnn_relu(input[0]))

rnn = nn.LSTMCell(10, 20)
init(rnn)
hx = torch.zeros(3, 20)
cx = torch.zeros(3, 20)
output = []
for i in range(input.size()[0]):
    hx, cx = rnn(input[i], (hx, cx))
    output.append(hx)
output = torch.stack(output, dim=0)
show("LSTMCell", output)
show("LSTMCell cx", cx)

rnn = nn.GRUCell(10, 20)
init(rnn)
hx = torch.zeros(3, 20)
for i in range(6):
    hx = rnn(input[i], hx)
show("GRUCell", hx)
show("GRUCell unbatched", rnn(input[0, 0]))

rnn = nn.RNN(10, 20, 2, nonlinearity="relu")
init(rnn, 0.2)
h0 = torch.full((2, 3, 20), 0.1)
output, hn = rnn(input, h0)
show("RNN relu", output)
show("RNN hn", hn)
print("RNN params:", [(n, list(p.shape)) for n, p in rnn.named_parameters()][:4])

gru = nn.GRU(10, 8, num_layers=2, bidirectional=True, batch_first=True)
init(gru, 0.3)
x = input.transpose(0, 1)
out, h = gru(x)
show("GRU bi out", out)
show("GRU bi h", h)
print("GRU params:", [n for n, _ in gru.named_parameters()][-4:])
out_u, h_u = gru(x[0])
print("unbatched matches:", torch.allclose(out_u, out[0], atol=1e-6), list(h_u.shape))

lstm = nn.LSTM(10, 16, num_layers=1, proj_size=6)
init(lstm, 0.3)
out, (h, c) = lstm(input)
show("LSTM proj out", out)
print("LSTM proj shapes:", list(h.shape), list(c.shape))
print("LSTM proj params:", [(n, list(p.shape)) for n, p in lstm.named_parameters()])
lstm2 = nn.LSTM(10, 12, num_layers=2, dropout=0.0, bias=False)
init(lstm2, 0.3)
out2, (h2, c2) = lstm2(input, (torch.zeros(2, 3, 12), torch.ones(2, 3, 12) * 0.5))
show("LSTM no bias", out2)
print("no-bias params:", [n for n, _ in lstm2.named_parameters()])
loss = out2.pow(2).mean()
loss.backward()
print("grad:", round(lstm2.weight_hh_l1.grad.abs().sum().item(), 5))
print(lstm)
print(gru)
try:
    nn.LSTM(10, 20)(torch.zeros(5, 3, 7))
except RuntimeError:
    print("wrong input size: RuntimeError")
