# The classification losses with their options, as the nn.functional docs and real
# training code use them: F.one_hot, cross_entropy with label_smoothing, ignore_index,
# class weights, reduction none / sum / mean, probability targets, K-dimensional
# (segmentation) inputs, nll_loss on log_softmax, and BCEWithLogits with pos_weight;
# gradients checked too.
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

rng = np.random.default_rng(0)
logits = torch.from_numpy(rng.standard_normal((6, 4)).astype(np.float32)).requires_grad_()
target = torch.tensor([0, 3, 1, -100, 2, 3])
print("one_hot:", F.one_hot(torch.tensor([0, 2, 1]), num_classes=4))
print(
    "one_hot infer:", F.one_hot(torch.tensor([[1], [3]])).shape, F.one_hot(torch.tensor([1])).dtype
)
loss = F.cross_entropy(logits, target)
print("ignore_index default:", loss)
loss.backward()
print("grad of ignored row:", logits.grad[3].tolist())
print("grad:", logits.grad.sum(1).abs().max().item() < 1e-6)
logits.grad = None
t = torch.tensor([0, 3, 1, 1, 2, 3])
print("smoothing 0.1:", F.cross_entropy(logits, t, label_smoothing=0.1))
w = torch.tensor([1.0, 2.0, 0.5, 1.5])
print("weights:", F.cross_entropy(logits, t, weight=w))
print("weights + smoothing:", F.cross_entropy(logits, t, weight=w, label_smoothing=0.2))
print("weights + ignore:", F.cross_entropy(logits, target, weight=w, ignore_index=-100))
print("ignore 3:", F.cross_entropy(logits, t, ignore_index=3))
print("none:", F.cross_entropy(logits, t, reduction="none"))
print("sum:", F.cross_entropy(logits, t, reduction="sum"))
print("none ignore:", F.cross_entropy(logits, target, reduction="none"))
probs = torch.softmax(torch.from_numpy(rng.standard_normal((6, 4)).astype(np.float32)), 1)
print("prob targets:", F.cross_entropy(logits, probs))
print("prob targets smoothing:", F.cross_entropy(logits, probs, label_smoothing=0.1))
seg = torch.from_numpy(rng.standard_normal((2, 3, 4, 4)).astype(np.float32))
seg_t = torch.from_numpy(rng.integers(0, 3, (2, 4, 4)))
seg_t[0, 0, 0] = 255
print("segmentation:", F.cross_entropy(seg, seg_t, ignore_index=255))
print("segmentation none:", F.cross_entropy(seg, seg_t, ignore_index=255, reduction="none").shape)
print(
    "nll:",
    F.nll_loss(F.log_softmax(logits, 1), t),
    F.nll_loss(F.log_softmax(logits, 1), t, weight=w),
)
crit = nn.CrossEntropyLoss(weight=w, label_smoothing=0.05, reduction="sum")
out = crit(logits, t)
out.backward()
print("module:", out, logits.grad[0])
bce = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([3.0, 1.0]))
x = torch.tensor([[0.5, -1.0], [2.0, 0.0]])
yb = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
print("bce pos_weight:", bce(x, yb))
print("bce weight:", F.binary_cross_entropy_with_logits(x, yb, weight=torch.tensor([0.2, 0.8])))
print("bce:", F.binary_cross_entropy(torch.sigmoid(x), yb, reduction="none"))
print("multilabel soft margin:", F.multilabel_soft_margin_loss(x, yb))
print("soft targets via kl:", F.kl_div(F.log_softmax(logits, 1), probs, reduction="batchmean"))
