# The layers and losses a tutorial reader meets beyond the basics (style transfer's
# ReflectionPad2d and InstanceNorm2d, AlexNet's LocalResponseNorm, PReLU, GLU, RMSNorm,
# metric-learning losses, ...): forward values and input gradients on fixed inputs.
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

rng = np.random.default_rng(0)


def t(*shape, scale=1.0, positive=False):
    a = rng.standard_normal(shape).astype(np.float32) * scale
    return torch.from_numpy(np.abs(a) + 0.1 if positive else a)


def show(name, out, *inputs):
    out_sum = (
        out
        if out.dim() == 0
        else (out * torch.linspace(0.5, 1.5, out.numel()).view(out.shape)).sum()
    )
    grads = torch.autograd.grad(out_sum, inputs, allow_unused=True) if inputs else ()
    print(f"{name} shape: {list(out.shape)}")
    head = out.detach().flatten()[:6].numpy().round(5).tolist()
    print(f"{name} values: {head} {round(out.detach().sum().item(), 4)}")
    for k, g in enumerate(grads):
        print(f"{name} grad{k}: {None if g is None else round(g.abs().sum().item(), 4)}")


def layer(name, module, *inputs, fixed=0):
    # the last `fixed` inputs (targets) get no gradient
    last = len(inputs) - fixed
    inputs = [
        x.clone().requires_grad_(x.is_floating_point() and i < last) for i, x in enumerate(inputs)
    ]
    out = module(*inputs)
    params = list(module.parameters()) if isinstance(module, nn.Module) else []
    show(name, out, *[x for x in inputs if x.requires_grad], *params)


img = t(2, 3, 5, 6)
seq = t(2, 4, 7)
layer("ReflectionPad2d", nn.ReflectionPad2d(2), img)
layer("ReflectionPad2d tuple", nn.ReflectionPad2d((1, 2, 0, 3)), img)
layer("ReplicationPad2d", nn.ReplicationPad2d((2, 1, 1, 0)), img)
layer("ZeroPad2d", nn.ZeroPad2d((1, 1, 2, 0)), img)
layer("ConstantPad1d", nn.ConstantPad1d((2, 3), 3.5), seq)
layer("ReflectionPad1d", nn.ReflectionPad1d(3), seq)
layer("CircularPad2d", nn.CircularPad2d(1), img)
layer("F.pad reflect", lambda x: F.pad(x, (1, 1, 2, 2), mode="reflect"), img)
layer(
    "F.pad replicate 3d", lambda x: F.pad(x, (1, 0, 0, 1, 2, 2), mode="replicate"), t(1, 2, 3, 3, 3)
)
layer("InstanceNorm2d", nn.InstanceNorm2d(3), img)
norm = nn.InstanceNorm2d(3, affine=True, track_running_stats=True)
layer("InstanceNorm2d affine tracked", norm, img)
print(
    "InstanceNorm running:",
    norm.running_mean.numpy().round(5).tolist(),
    norm.running_var.numpy().round(5).tolist(),
)
norm.eval()
layer("InstanceNorm2d eval", norm, img)
layer("InstanceNorm1d", nn.InstanceNorm1d(4), seq)
layer("BatchNorm3d", nn.BatchNorm3d(2), t(3, 2, 2, 3, 3))
layer("RMSNorm", nn.RMSNorm(7), seq)
layer("RMSNorm eps", nn.RMSNorm([4, 7], eps=1e-3), seq)
layer("LocalResponseNorm", nn.LocalResponseNorm(3), t(2, 5, 3, 3, scale=3.0))
layer("LocalResponseNorm even", nn.LocalResponseNorm(2, alpha=0.1, beta=0.5, k=2.0), seq)
layer("PReLU", nn.PReLU(), seq)
layer("PReLU channels", nn.PReLU(3, init=0.1), img)
layer("GLU", nn.GLU(), t(3, 8))
layer("GLU dim1", nn.GLU(dim=1), t(2, 6, 3))
layer("Hardshrink", nn.Hardshrink(0.7), seq)
layer("Softshrink", nn.Softshrink(0.3), seq)
layer("Softmax2d", nn.Softmax2d(), img)
layer("RReLU eval", nn.RReLU().eval(), seq)
layer("CosineSimilarity", nn.CosineSimilarity(dim=1), t(4, 5), t(4, 5))
layer("PairwiseDistance", nn.PairwiseDistance(p=1.5), t(4, 5), t(4, 5))
layer("ChannelShuffle", nn.ChannelShuffle(2), t(1, 4, 2, 2))
layer("Dropout3d eval", nn.Dropout3d(0.4).eval(), t(2, 3, 2, 2, 2))
layer("AlphaDropout eval", nn.AlphaDropout(0.4).eval(), seq)
a, p, n = t(5, 6), t(5, 6), t(5, 6)
layer("TripletMarginLoss", nn.TripletMarginLoss(margin=1.0, p=2), a, p, n)
layer(
    "TripletMarginLoss swap none",
    nn.TripletMarginLoss(margin=0.5, swap=True, reduction="none"),
    a,
    p,
    n,
)
y = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0])
layer("MarginRankingLoss", nn.MarginRankingLoss(margin=0.2), t(5), t(5), y)
layer("HingeEmbeddingLoss", nn.HingeEmbeddingLoss(margin=1.5), t(5), y, fixed=1)
layer("SoftMarginLoss", nn.SoftMarginLoss(), t(5), y, fixed=1)
layer("CosineEmbeddingLoss", nn.CosineEmbeddingLoss(margin=0.1), t(5, 4), t(5, 4), y, fixed=1)
layer("PoissonNLLLoss", nn.PoissonNLLLoss(), t(6), t(6, positive=True) * 3)
layer(
    "PoissonNLLLoss full",
    nn.PoissonNLLLoss(log_input=False, full=True),
    t(6, positive=True),
    t(6, positive=True) * 3,
)
layer("GaussianNLLLoss", nn.GaussianNLLLoss(), t(4, 2), t(4, 2), t(4, 1, positive=True))
layer(
    "GaussianNLLLoss full",
    nn.GaussianNLLLoss(full=True, reduction="sum"),
    t(4, 2),
    t(4, 2),
    t(4, positive=True),
)
ml = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
layer("MultiLabelSoftMarginLoss", nn.MultiLabelSoftMarginLoss(), t(2, 3), ml, fixed=1)
layer("MultiMarginLoss", nn.MultiMarginLoss(), t(4, 5), torch.tensor([0, 4, 2, 1]))
layer(
    "MultiMarginLoss p2 weight",
    nn.MultiMarginLoss(p=2, margin=0.5, weight=torch.linspace(0.5, 1.5, 5)),
    t(4, 5),
    torch.tensor([0, 4, 2, 1]),
)
show("F.pdist", F.pdist(t(4, 3).requires_grad_()))
show("F.glu", F.glu(t(2, 4)))
x = t(3, 4).requires_grad_()
show("F.rms_norm", F.rms_norm(x, (4,)), x)
x = t(2, 3, 4).requires_grad_()
show("F.instance_norm", F.instance_norm(x), x)
print("gumbel_softmax hard one-hot:", F.gumbel_softmax(t(3, 5), tau=0.5, hard=True).sum(1).tolist())
print("rng gumbel_softmax soft:", F.gumbel_softmax(t(3, 5)).sum(1).numpy().round(5).tolist())

pd = nn.ParameterDict({"alpha": nn.Parameter(torch.ones(2)), "beta": torch.zeros(3)})
pd["gamma"] = nn.Parameter(torch.full((1,), 2.0))
print(
    "ParameterDict:", list(pd.keys()), len(pd), [k for k, _ in pd.named_parameters()], "beta" in pd
)
print("ParameterDict types:", [type(v).__name__ for v in pd.values()])
print(
    "reprs:",
    repr(nn.PReLU()),
    repr(nn.GLU()),
    repr(nn.InstanceNorm2d(3)),
    repr(nn.ReflectionPad2d(1)),
    repr(nn.ConstantPad2d(1, 2.0)),
    repr(nn.LocalResponseNorm(2)),
)
print(
    "reprs2:",
    repr(nn.RMSNorm(4)),
    repr(nn.Hardshrink()),
    repr(nn.ChannelShuffle(2)),
    repr(nn.BatchNorm3d(2)),
    repr(nn.TripletMarginLoss()),
)
print(
    "state_dict InstanceNorm:",
    list(nn.InstanceNorm2d(3, affine=True, track_running_stats=True).state_dict().keys()),
)


def error(name, fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - the class is what is compared
        print(f"{name} raises: {type(e).__name__}")
    else:
        print(f"{name} raises: nothing")


error("glu odd", lambda: F.glu(torch.ones(3, 5)))
error("prelu channels", lambda: F.prelu(torch.ones(2, 3, 4), torch.ones(4)))
error("MultiheadAttention heads", lambda: nn.MultiheadAttention(8, 3))
error(
    "MultiheadAttention is_causal",
    lambda: nn.MultiheadAttention(4, 2)(
        torch.ones(3, 1, 4), torch.ones(3, 1, 4), torch.ones(3, 1, 4), is_causal=True
    ),
)
error(
    "embedding_bag offsets[0]",
    lambda: F.embedding_bag(torch.tensor([1, 2]), torch.ones(5, 2), torch.tensor([1])),
)
error(
    "embedding_bag 2-D with offsets",
    lambda: F.embedding_bag(torch.tensor([[1, 2]]), torch.ones(5, 2), torch.tensor([0])),
)
error(
    "embedding_bag per_sample_weights mean",
    lambda: F.embedding_bag(
        torch.tensor([1, 2]), torch.ones(5, 2), torch.tensor([0]), per_sample_weights=torch.ones(2)
    ),
)
error("TripletMarginLoss margin", lambda: nn.TripletMarginLoss(margin=0.0))
error("softshrink negative", lambda: F.softshrink(torch.ones(2), -1.0))
error("InstanceNorm2d 2-D", lambda: nn.InstanceNorm2d(3)(torch.ones(2, 3)))
error("rms_norm shape", lambda: F.rms_norm(torch.ones(2, 3), (4,)))
error(
    "reduction typo",
    lambda: nn.MarginRankingLoss(reduction="avg")(torch.ones(2), torch.ones(2), torch.ones(2)),
)
