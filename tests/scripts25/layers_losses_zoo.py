# ruff: noqa: E501  (one probe per line: a table of short calls)
# Less common nn layers and losses as their docs examples use them, with weights from
# NumPy: Bilinear, Unflatten, the padding layers, LPPool1d, CosineSimilarity /
# PairwiseDistance / Softmax2d, Lazy modules (shapes inferred at the first call), the
# ranking / embedding / margin / Poisson / Gaussian / Huber / triplet losses,
# AdaptiveLogSoftmaxWithLoss, EmbeddingBag max, Fold, and print() of many modules
# (activations, pools, norms, dropouts, convs, losses, RNNs, a transformer layer).
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

rng = np.random.default_rng(0)
x = torch.from_numpy(rng.standard_normal((3, 4)).astype(np.float32))
y = torch.from_numpy(rng.standard_normal((3, 4)).astype(np.float32))


def show(name, f):
    try:
        r = f()
        print(name + ":", r)
    except Exception as e:
        print(name + ":", "ERR", type(e).__name__, str(e)[:80])


def init(m):
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32) * 0.3))
    return m


show("bilinear", lambda: init(nn.Bilinear(4, 4, 2))(x, y))
show("unflatten", lambda: nn.Unflatten(1, (2, 2))(x).shape)
show("zeropad", lambda: nn.ZeroPad2d((1, 0, 0, 1))(x[None]).shape)
show("reflectionpad1d", lambda: nn.ReflectionPad1d(2)(x[None])[0, 0])
show("replicationpad", lambda: nn.ReplicationPad1d((1, 2))(x[None])[0, 0])
show("circularpad2d", lambda: nn.CircularPad2d(1)(x[None, None])[0, 0, 0])
show("constantpad", lambda: nn.ConstantPad1d(1, 3.5)(x)[0])
show("lppool1d", lambda: nn.LPPool1d(2, 2)(x.abs()[None]))
show("cosine sim", lambda: nn.CosineSimilarity(dim=1)(x, y))
show("pairwise", lambda: nn.PairwiseDistance(p=1.5, keepdim=True)(x, y))
show("softmax2d", lambda: nn.Softmax2d()(x[None, :, :, None])[0, :, 0, 0])
show("lazy linear", lambda: (lambda m: (m(x).shape, m.weight.shape, m))(nn.LazyLinear(5)))
show("lazy conv", lambda: (lambda m: (m(x[None, None]).shape, m.weight.shape))(nn.LazyConv2d(2, 3)))
show("lazy bn", lambda: (lambda m: (m(x).shape, m.num_features))(nn.LazyBatchNorm1d()))
show(
    "margin ranking",
    lambda: F.margin_ranking_loss(x[0], y[0], torch.tensor([1.0, -1.0, 1.0, -1.0]), margin=0.1),
)
show(
    "hinge embedding",
    lambda: F.hinge_embedding_loss(
        x, torch.ones(3, 4).sign() * torch.tensor([1.0, -1.0, 1.0, -1.0])
    ),
)
show(
    "cosine embedding",
    lambda: F.cosine_embedding_loss(x, y, torch.tensor([1.0, -1.0, 1.0]), margin=0.2),
)
show("multi margin", lambda: F.multi_margin_loss(x, torch.tensor([0, 3, 1]), p=1, margin=1.0))
show(
    "multi margin w",
    lambda: F.multi_margin_loss(
        x, torch.tensor([0, 3, 1]), p=2, weight=torch.tensor([1.0, 2.0, 0.5, 1.0])
    ),
)
show(
    "multilabel margin",
    lambda: F.multilabel_margin_loss(
        x, torch.tensor([[0, 3, -1, 0], [1, -1, 0, 0], [2, 1, 0, -1]])
    ),
)
show("soft margin", lambda: F.soft_margin_loss(x, y.sign()))
show("poisson nll", lambda: F.poisson_nll_loss(x, y.abs(), log_input=True, full=True))
show("poisson nll nolog", lambda: F.poisson_nll_loss(x.abs() + 0.1, y.abs(), log_input=False))
show("gaussian nll", lambda: F.gaussian_nll_loss(x, y, torch.ones(3, 1) * 0.5, full=True))
show("huber", lambda: F.huber_loss(x, y, delta=0.5))
show("triplet", lambda: F.triplet_margin_loss(x, y, y.flip(0), margin=0.5, p=1, swap=True))
show(
    "triplet with dist",
    lambda: F.triplet_margin_with_distance_loss(
        x, y, y.flip(0), distance_function=lambda a, b: 1 - F.cosine_similarity(a, b)
    ),
)
show(
    "kl log_target",
    lambda: F.kl_div(x.log_softmax(1), y.log_softmax(1), reduction="batchmean", log_target=True),
)
show("l1 sum", lambda: F.l1_loss(x, y, reduction="sum"))
show(
    "bce weight",
    lambda: F.binary_cross_entropy(
        torch.sigmoid(x), torch.sigmoid(y), weight=torch.tensor([1.0, 2.0, 3.0, 4.0])
    ),
)
show(
    "nll 3d weights",
    lambda: F.nll_loss(
        F.log_softmax(x[None].transpose(1, 2), 1),
        torch.tensor([[0, 1, 2]]),
        weight=torch.tensor([1.0, 2.0, 3.0, 0.5]),
    ),
)
show(
    "adaptive log softmax",
    lambda: (lambda m: m(x, torch.tensor([0, 5, 9])).loss)(
        init(nn.AdaptiveLogSoftmaxWithLoss(4, 10, cutoffs=[4, 8], div_value=2.0))
    ),
)
show("embedding bag max 2d", lambda: F.embedding_bag(torch.tensor([[0, 1], [2, 0]]), x, mode="max"))
show("glu module", lambda: nn.GLU()(x))
show("fold module", lambda: nn.Fold((3, 3), 2)(torch.ones(1, 4, 4)))
show(
    "channel shuffle module",
    lambda: nn.ChannelShuffle(2)(torch.arange(4.0).view(1, 4, 1, 1)).view(-1),
)
show("identity args", lambda: nn.Identity(54, unused="x")(x).shape)
show("flatten module", lambda: nn.Flatten(0)(x).shape)
show("threshold module", lambda: nn.Threshold(0.1, -1.0)(x)[0])
show("rrelu train seeded shape", lambda: nn.RReLU()(x).shape)
show("softmax no dim", lambda: nn.Softmax()(x)[0])
show("logsoftmax module", lambda: nn.LogSoftmax(dim=0)(x)[0])
show(
    "transformer encoder layer gelu",
    lambda: init(
        nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, activation="gelu", batch_first=True)
    )(x[None])[0, 0],
)
show(
    "embedding max_norm norm_type",
    lambda: nn.Embedding(3, 4, max_norm=0.5, norm_type=1.0)(torch.tensor([0])).abs().sum(),
)
show("instance norm affine", lambda: init(nn.InstanceNorm1d(3, affine=True))(x[None])[0, 0])
show("group norm eps", lambda: nn.GroupNorm(2, 4, eps=1e-3)(x[..., None])[0, :, 0])
show(
    "upsample bilinear align",
    lambda: nn.UpsamplingBilinear2d(scale_factor=2)(x[None, None])[0, 0, 1],
)
show("upsample nearest2d", lambda: nn.UpsamplingNearest2d(size=(4, 6))(x[None, None]).shape)
show("celu module", lambda: nn.CELU(0.5)(x)[0])
show(
    "hardshrink module repr",
    lambda: (
        nn.Hardshrink(0.3),
        nn.Softshrink(),
        nn.ELU(alpha=0.5, inplace=True),
        nn.LeakyReLU(0.1, True),
    ),
)
show("bilinear repr", lambda: nn.Bilinear(2, 3, 4))
show("lazy repr", lambda: nn.LazyLinear(3))
show(
    "pad repr",
    lambda: (nn.ZeroPad2d(2), nn.ReflectionPad2d((1, 1, 2, 0)), nn.ConstantPad3d(1, 0.5)),
)
show(
    "pool repr",
    lambda: (
        nn.MaxPool2d(3, 2, 1, ceil_mode=True),
        nn.AvgPool1d(2),
        nn.AdaptiveMaxPool2d((2, None)),
        nn.LPPool2d(2, 3),
        nn.MaxUnpool2d(2),
        nn.FractionalMaxPool2d(2, output_size=(3, 3)),
    ),
)
show(
    "norm repr",
    lambda: (
        nn.BatchNorm2d(3, momentum=None, affine=False),
        nn.LayerNorm((2, 3), bias=False),
        nn.LocalResponseNorm(2),
        nn.InstanceNorm2d(3, affine=True),
    ),
)
show(
    "drop repr",
    lambda: (
        nn.Dropout(0.3, inplace=True),
        nn.AlphaDropout(0.2),
        nn.Dropout1d(),
        nn.FeatureAlphaDropout(0.1),
    ),
)
show(
    "conv repr",
    lambda: (
        nn.Conv3d(1, 2, (1, 2, 3), padding="same", bias=False),
        nn.ConvTranspose1d(2, 3, 4, output_padding=1, stride=2, groups=1, dilation=1),
        nn.Conv2d(2, 2, 3, padding_mode="reflect", padding=1),
    ),
)
show(
    "misc repr",
    lambda: (
        nn.Embedding(5, 2, max_norm=1.0, sparse=False, scale_grad_by_freq=True),
        nn.EmbeddingBag(5, 2, mode="sum"),
        nn.Unflatten(1, (2, 2)),
        nn.Flatten(0, -1),
        nn.PixelShuffle(2),
        nn.Upsample(size=3, mode="bilinear", align_corners=True),
    ),
)
show(
    "loss repr",
    lambda: (
        nn.NLLLoss(ignore_index=0),
        nn.BCEWithLogitsLoss(pos_weight=torch.ones(1)),
        nn.KLDivLoss(reduction="batchmean", log_target=True),
        nn.TripletMarginLoss(margin=0.3),
        nn.HuberLoss(delta=0.5),
        nn.SmoothL1Loss(beta=0.5),
        nn.CTCLoss(blank=1, zero_infinity=True),
    ),
)
show(
    "act repr",
    lambda: (
        nn.Softplus(),
        nn.Hardtanh(),
        nn.ReLU6(True),
        nn.SiLU(),
        nn.Mish(inplace=True),
        nn.Softmin(1),
        nn.LogSigmoid(),
        nn.PReLU(3, 0.1),
        nn.RReLU(0.1, 0.3),
        nn.SELU(inplace=True),
        nn.GLU(-1),
        nn.Tanhshrink(),
        nn.Hardswish(),
        nn.Softsign(),
    ),
)
show(
    "rnn repr",
    lambda: (
        nn.LSTM(2, 3, proj_size=2, batch_first=True),
        nn.GRUCell(2, 3, bias=False),
        nn.LSTMCell(2, 3),
        nn.RNNCell(2, 3, nonlinearity="relu"),
    ),
)
show("transformer repr", lambda: nn.TransformerEncoderLayer(4, 2, 8))
