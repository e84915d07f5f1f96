# Recurrent layers' state handling as sequence models use it: LSTM with an initial
# (h0, c0), proj_size (h is projected), multi-layer bidirectional output split into the two
# directions, h_n's layout (num_layers * directions, batch, hidden), the last output vs
# h_n, stateful truncated BPTT with detached states across chunks, GRU / RNN with
# batch_first, and unbatched (2-D) inputs. Weights from NumPy.
import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(0)


def init(m, scale=0.3):
    with torch.no_grad():
        for prm in m.parameters():
            prm.copy_(
                torch.from_numpy(rng.standard_normal(tuple(prm.shape)).astype(np.float32) * scale)
            )
    return m


T, N, I, H = 5, 2, 3, 4
x = torch.from_numpy(rng.standard_normal((T, N, I)).astype(np.float32))
lstm = init(nn.LSTM(I, H))
h0 = torch.from_numpy(rng.standard_normal((1, N, H)).astype(np.float32))
c0 = torch.zeros(1, N, H)
out, (hn, cn) = lstm(x, (h0, c0))
print("lstm:", out.shape, hn.shape, cn.shape, torch.equal(out[-1], hn[0]))
print("values:", out[2, 1], cn[0, 0])
proj = init(nn.LSTM(I, H, proj_size=2))
out, (hn, cn) = proj(x)
print("proj_size:", out.shape, hn.shape, cn.shape, [n for n, _ in proj.named_parameters()])
print("proj values:", out[-1, 0], hn[0, 0])
bi = init(nn.LSTM(I, H, num_layers=2, bidirectional=True))
out, (hn, cn) = bi(x)
print("bi shapes:", out.shape, hn.shape)
both = out.view(T, N, 2, H)
forward_last, backward_first = both[-1, :, 0], both[0, :, 1]
print(
    "directions match h_n:",
    torch.allclose(forward_last, hn[-2]),
    torch.allclose(backward_first, hn[-1]),
)
print("h_n layers:", hn.view(2, 2, N, H).shape, hn[-1, 1])
gru = init(nn.GRU(I, H, batch_first=True, num_layers=2, dropout=0.0))
xb = x.transpose(0, 1)
out, hn = gru(xb)
print("gru batch_first:", out.shape, hn.shape, torch.equal(out[:, -1], hn[-1]), out[1, 2])
rnn = init(nn.RNN(I, H, nonlinearity="relu", bias=False))
out, hn = rnn(x[:, 0])
print("unbatched:", out.shape, hn.shape, out[-1])
model = init(nn.LSTM(1, H, batch_first=True))
head = init(nn.Linear(H, 1))
opt = torch.optim.SGD(list(model.parameters()) + list(head.parameters()), lr=0.05)
series = torch.sin(torch.linspace(0, 6, 41)).view(1, -1, 1)
state = None
losses = []
for start in range(0, 40, 10):
    chunk, target = series[:, start : start + 10], series[:, start + 1 : start + 11]
    if state is not None:
        state = tuple(s.detach() for s in state)
    out, state = model(chunk, state)
    loss = nn.functional.mse_loss(head(out), target)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(round(loss.item(), 6))
print("truncated bptt:", losses, state[0].requires_grad)
cell = nn.LSTMCell(I, H)
cell.load_state_dict({k.replace("_l0", ""): v for k, v in lstm.state_dict().items()})
h, c = h0[0], c0[0]
for t in range(T):
    h, c = cell(x[t], (h, c))
print("cell == layer:", torch.allclose(h, lstm(x, (h0, c0))[1][0][0], atol=1e-6))
