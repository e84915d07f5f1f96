# torch.nn.functional's activations and padding modes checked on one input, as the
# functional docs list them: softmax with dtype=, softmin, log_softmax, glu, elu / celu /
# selu, hardswish / hardsigmoid / hardtanh / relu6, mish / silu / logsigmoid / softsign /
# tanhshrink / softshrink / hardshrink, threshold, leaky_relu / prelu / rrelu (eval),
# normalize with p=1, F.pad constant / reflect / replicate / circular in 1-D and 2-D,
# pixel_shuffle round trip, local_response_norm, and each one's gradient sum.
import numpy as np
import torch
import torch.nn.functional as F

rng = np.random.default_rng(0)
x = torch.from_numpy(rng.standard_normal((2, 6)).astype(np.float32) * 2)
acts = {
    "softmax f64": lambda t: F.softmax(t, dim=-1, dtype=torch.float64),
    "softmin": lambda t: F.softmin(t, dim=1),
    "log_softmax": lambda t: F.log_softmax(t, dim=0),
    "glu": lambda t: F.glu(t, dim=-1),
    "elu": lambda t: F.elu(t, alpha=0.5),
    "celu": lambda t: F.celu(t, alpha=2.0),
    "selu": F.selu,
    "hardswish": F.hardswish,
    "hardsigmoid": F.hardsigmoid,
    "hardtanh": lambda t: F.hardtanh(t, -1.5, 1.5),
    "relu6": F.relu6,
    "mish": F.mish,
    "silu": F.silu,
    "logsigmoid": F.logsigmoid,
    "softsign": F.softsign,
    "softplus": lambda t: F.softplus(t, beta=2.0, threshold=5.0),
    "tanhshrink": F.tanhshrink,
    "softshrink": lambda t: F.softshrink(t, 0.7),
    "hardshrink": lambda t: F.hardshrink(t, 0.7),
    "threshold": lambda t: F.threshold(t, 0.5, -2.0),
    "leaky_relu": lambda t: F.leaky_relu(t, 0.2),
    "prelu": lambda t: F.prelu(t, torch.tensor([0.25])),
    "rrelu eval": lambda t: F.rrelu(t, training=False),
    "gelu": F.gelu,
    "gelu tanh": lambda t: F.gelu(t, approximate="tanh"),
    "normalize p1": lambda t: F.normalize(t, p=1.0, dim=1),
    "normalize dim0": lambda t: F.normalize(t, dim=0),
}
for name, fn in acts.items():
    xg = x.clone().requires_grad_()
    out = fn(xg)
    (out.double() * torch.arange(out.numel()).view(out.shape).double()).sum().backward()
    print(name, out.dtype, out[0, :3], round(xg.grad.sum().item(), 5))
seq = torch.arange(1.0, 6.0).view(1, 1, 5)
for mode in ("constant", "reflect", "replicate", "circular"):
    print("pad1d", mode, F.pad(seq, (2, 1), mode=mode).view(-1).tolist())
img = torch.arange(1.0, 10.0).view(1, 1, 3, 3)
for mode in ("constant", "reflect", "replicate", "circular"):
    print("pad2d", mode, F.pad(img, (1, 1, 1, 0), mode=mode)[0, 0, :2].tolist())
print("pad value:", F.pad(seq, (1, 1), value=-1.0).view(-1).tolist())
print("pad negative:", F.pad(seq, (-1, -2)).view(-1).tolist())
print("pad last two dims of 3-d:", F.pad(torch.ones(2, 2, 2), (1, 0, 0, 1)).shape)
ps = torch.arange(16.0).view(1, 4, 2, 2)
sh = F.pixel_shuffle(ps, 2)
print("pixel_shuffle:", sh.shape, sh[0, 0, 0].tolist(), torch.equal(F.pixel_unshuffle(sh, 2), ps))
print(
    "local_response_norm:", F.local_response_norm(torch.arange(1.0, 9.0).view(1, 4, 2), 2)[0, :, 0]
)
