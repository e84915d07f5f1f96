# ruff: noqa: E501, E702  (short probes, one per line)
# What torch.compile must keep from eager semantics, as tutorials rely on it: BatchNorm's
# running statistics and num_batches_tracked updating under a compiled module (train and
# eval), a buffer incremented in forward, a compiled LSTM and transformer layer with a
# padding mask, in-place ops and item assignment inside, Python side effects on a list
# argument, branches on shapes, .item() (a graph break in PyTorch), a compiled training
# step with an optimizer, dropout train / eval, keyword defaults, a global read after it
# changed, dtype polymorphism, list / dict inputs and outputs, nonzero, and a returned Size.
import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(0)


def init(m):
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.3))
    return m


x = torch.from_numpy(rng.standard_normal((4, 3, 8, 8)).astype(np.float32))
net = init(
    nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )
)
ref = init(
    nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )
)
ref.load_state_dict(net.state_dict())
c = torch.compile(net)
for i in range(3):
    a = c(x + i)
    b = ref(x + i)
    print(
        "bn train",
        i,
        torch.allclose(a, b, atol=1e-5),
        net[1].num_batches_tracked.item(),
        torch.allclose(net[1].running_mean, ref[1].running_mean, atol=1e-6),
    )
net.eval()
ref.eval()
print("bn eval", torch.allclose(c(x), ref(x), atol=1e-5))


class Counter(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("n", torch.zeros(()))
        self.lin = nn.Linear(3, 3)

    def forward(self, x):
        self.n += 1
        return self.lin(x) * self.n


m = init(Counter())
mc = torch.compile(m)
outs = [mc(torch.ones(2, 3)).sum().item() for _ in range(3)]
print("buffer in forward:", m.n.item(), [round(o, 4) for o in outs])
lstm = init(nn.LSTM(3, 4, batch_first=True))
lc = torch.compile(lstm)
s = torch.from_numpy(rng.standard_normal((2, 5, 3)).astype(np.float32))
print("lstm:", torch.allclose(lc(s)[0], lstm(s)[0], atol=1e-5))
enc = init(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True))
ec = torch.compile(enc)
t = torch.from_numpy(rng.standard_normal((2, 5, 8)).astype(np.float32))
mask = torch.tensor([[False] * 5, [False, False, False, True, True]])
print(
    "encoder:",
    torch.allclose(ec(t, src_key_padding_mask=mask), enc(t, src_key_padding_mask=mask), atol=1e-5),
)


@torch.compile
def inplace_fn(x):
    y = x.clone()
    y[:, 0] = 0
    y.mul_(2)
    y += 1
    return y


print(
    "inplace:",
    torch.equal(inplace_fn(torch.ones(2, 3)), torch.tensor([[1.0, 3.0, 3.0], [1.0, 3.0, 3.0]])),
)


@torch.compile
def python_side_effect(x, lst):
    lst.append(1)
    return x * len(lst)


lst = []
r = [python_side_effect(torch.ones(1), lst).item() for _ in range(3)]
print("side effect:", r, len(lst))


@torch.compile
def shape_branch(x):
    if x.shape[0] > 2:
        return x.sum()
    return x.mean()


print("shape branch:", shape_branch(torch.ones(3)).item(), shape_branch(torch.ones(2)).item())


@torch.compile
def item_use(x):
    return x * x.max().item()


print(
    "item:",
    item_use(torch.tensor([1.0, 2.0])).tolist(),
    item_use(torch.tensor([1.0, 3.0])).tolist(),
)
w = nn.Parameter(torch.tensor([1.0, 2.0]))
opt = torch.optim.SGD([w], lr=0.1)


@torch.compile
def step(x):
    opt.zero_grad()
    loss = (w * x).sum() ** 2
    loss.backward()
    opt.step()
    return loss


print("step:", [round(step(torch.tensor([1.0, 1.0])).item(), 5) for _ in range(3)], w.tolist())
drop = nn.Dropout(0.5)
dc = torch.compile(drop)
drop.eval()
print("dropout eval:", torch.equal(dc(torch.ones(5)), torch.ones(5)))
drop.train()
torch.manual_seed(0)
o = dc(torch.ones(1000))
print("dropout train:", ((o == 0) | (o == 2)).all().item(), 350 < (o == 0).sum().item() < 650)


@torch.compile
def default_arg(x, scale=2.0, flag=True):
    return x * scale if flag else x


print(
    "kwargs:",
    default_arg(torch.ones(1)).item(),
    default_arg(torch.ones(1), scale=3.0).item(),
    default_arg(torch.ones(1), flag=False).item(),
)


@torch.compile
def global_read(x):
    return x * FACTOR


FACTOR = 2.0
a = global_read(torch.ones(1)).item()
FACTOR = 5.0
print("global change:", a, global_read(torch.ones(1)).item())


@torch.compile
def dtype_poly(x):
    return x * 2


print(
    "dtypes:",
    dtype_poly(torch.ones(1, dtype=torch.int64)).dtype,
    dtype_poly(torch.ones(1, dtype=torch.float64)).dtype,
    dtype_poly(torch.ones(1)).dtype,
)


@torch.compile
def list_in(xs):
    return sum(x.sum() for x in xs)


print(
    "list input:", list_in([torch.ones(2), torch.ones(3)]).item(), list_in([torch.ones(2)]).item()
)


@torch.compile
def dict_out(x):
    return {"a": x + 1, "b": (x * 2, [x - 1])}


d = dict_out(torch.ones(1))
print("dict out:", sorted(d), d["b"][1][0].item())


@torch.compile
def nondiff(x):
    return torch.argmax(x), torch.sort(x).indices, x.nonzero()


print("nonzero:", [t.tolist() for t in nondiff(torch.tensor([0.0, 3.0, 1.0]))])


@torch.compile
def rand_in(x):
    return x + torch.rand_like(x) * 0


print("rand:", rand_in(torch.ones(2)).tolist())


@torch.compile
def setattr_module(x):
    return net[0](x).shape


print("module call shape:", setattr_module(x))
