# The loss-function examples of the torch.nn docs: CrossEntropyLoss with class indices,
# class probabilities, weight, ignore_index and label_smoothing; NLLLoss on images;
# BCEWithLogitsLoss with pos_weight; KLDivLoss (log_target); Huber / SmoothL1; margin and
# embedding losses; PoissonNLL / GaussianNLL; reductions, and their gradients.
import torch
import torch.nn as nn
import torch.nn.functional as F


def det(*shape, scale=1.0, phase=0.0):
    n = 1
    for s in shape:
        n *= s
    return (torch.sin(torch.arange(n, dtype=torch.float32) * 0.913 + phase) * scale).reshape(shape)


def show(name, loss, *grads_of):
    g = [x.grad.sum().item() for x in grads_of]
    print(f"{name}:", round(loss.item(), 6), [round(v, 6) for v in g])


input = det(3, 5, scale=2.0).requires_grad_(True)
target = torch.tensor([1, 0, 4])
loss = nn.CrossEntropyLoss()(input, target)
loss.backward()
show("CE indices", loss, input)
input.grad = None
target_p = det(3, 5, phase=1.0).softmax(dim=1)
loss = nn.CrossEntropyLoss()(input, target_p)
loss.backward()
show("CE probabilities", loss, input)
weight = torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0])
for kw in (
    {"weight": weight},
    {"ignore_index": 0},
    {"label_smoothing": 0.1},
    {"reduction": "sum"},
    {"weight": weight, "label_smoothing": 0.2},
):
    print("CE", sorted(kw), round(nn.CrossEntropyLoss(**kw)(input, target).item(), 6))
print(
    "CE none:",
    nn.CrossEntropyLoss(reduction="none")(input, target).detach().numpy().round(6).tolist(),
)
print(
    "CE probs + smoothing:", round(F.cross_entropy(input, target_p, label_smoothing=0.3).item(), 6)
)

# 2-D loss: NLLLoss on an N x C x H x W map
N, C = 2, 4
data = det(N, 16, 10, 10, scale=0.5)
conv = nn.Conv2d(16, C, (3, 3))
with torch.no_grad():
    conv.weight.copy_(det(C, 16, 3, 3, scale=0.1, phase=0.3))
    conv.bias.zero_()
m = nn.LogSoftmax(dim=1)
target = (torch.arange(N * 8 * 8) % C).reshape(N, 8, 8)
output = nn.NLLLoss()(m(conv(data)), target)
output.backward()
print("NLL 2d:", round(output.item(), 6), round(conv.weight.grad.sum().item(), 6))

target = torch.ones([10, 64], dtype=torch.float32)
output = torch.full([10, 64], 1.5)
pos_weight = torch.ones([64])
criterion = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
print("BCEWithLogits pos_weight:", round(criterion(output, target).item(), 6))
logits = det(4, 3, scale=3.0).requires_grad_(True)
labels = (det(4, 3, phase=2.0) > 0).float()
loss = F.binary_cross_entropy_with_logits(
    logits, labels, pos_weight=torch.tensor([1.0, 2.0, 0.5]), weight=torch.tensor([1.0, 0.5, 2.0])
)
loss.backward()
show("BCEWithLogits weight", loss, logits)
probs = torch.sigmoid(det(4, 3, phase=0.5))
print("BCE:", round(nn.BCELoss()(probs, labels).item(), 6))

kl_loss = nn.KLDivLoss(reduction="batchmean")
input = F.log_softmax(det(3, 5, phase=0.2), dim=1)
target = F.softmax(det(3, 5, phase=1.7), dim=1)
print("KLDiv:", round(kl_loss(input, target).item(), 6))
log_target = F.log_softmax(det(3, 5, phase=1.7), dim=1)
print(
    "KLDiv log_target:",
    round(nn.KLDivLoss(reduction="batchmean", log_target=True)(input, log_target).item(), 6),
)

a, b = det(6, scale=3.0), det(6, scale=1.0, phase=0.9)
print(
    "Huber:",
    round(nn.HuberLoss(delta=0.5)(a, b).item(), 6),
    "SmoothL1:",
    round(nn.SmoothL1Loss(beta=0.5)(a, b).item(), 6),
)
print(
    "L1 / MSE:",
    round(nn.L1Loss()(a, b).item(), 6),
    round(nn.MSELoss(reduction="sum")(a, b).item(), 6),
)
x1, x2, y = det(5), det(5, phase=1.0), torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0])
print("MarginRanking:", round(nn.MarginRankingLoss(margin=0.1)(x1, x2, y).item(), 6))
print("HingeEmbedding:", round(nn.HingeEmbeddingLoss(margin=0.5)(x1, y).item(), 6))
anchor, positive, negative = det(4, 8), det(4, 8, phase=0.2), det(4, 8, phase=2.0)
print(
    "TripletMargin:",
    round(nn.TripletMarginLoss(margin=1.0, p=2)(anchor, positive, negative).item(), 6),
)
print(
    "CosineEmbedding:",
    round(
        nn.CosineEmbeddingLoss(margin=0.2)(
            anchor, negative, torch.tensor([1.0, -1.0, -1.0, 1.0])
        ).item(),
        6,
    ),
)
print("SoftMargin:", round(nn.SoftMarginLoss()(x1, y).item(), 6))
print(
    "MultiLabelSoftMargin:",
    round(
        nn.MultiLabelSoftMarginLoss()(
            det(2, 3), torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
        ).item(),
        6,
    ),
)
print(
    "MultiMargin:",
    round(nn.MultiMarginLoss()(torch.tensor([[0.1, 0.2, 0.4, 0.8]]), torch.tensor([3])).item(), 6),
)
print(
    "MultiLabelMargin:",
    round(
        nn.MultiLabelMarginLoss()(
            torch.tensor([[0.1, 0.2, 0.4, 0.8]]), torch.tensor([[3, 0, -1, 1]])
        ).item(),
        6,
    ),
)
log_input = det(5, scale=0.5)
target = torch.tensor([0.0, 1.0, 2.0, 3.0, 1.0])
print(
    "PoissonNLL:",
    round(nn.PoissonNLLLoss()(log_input, target).item(), 6),
    round(nn.PoissonNLLLoss(log_input=False, full=True)(log_input.exp(), target).item(), 6),
)
var = torch.ones(5, requires_grad=True)
mean = det(5).requires_grad_(True)
loss = nn.GaussianNLLLoss()(mean, target, var)
loss.backward()
show("GaussianNLL", loss, mean, var)
