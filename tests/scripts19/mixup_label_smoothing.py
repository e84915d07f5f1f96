# Training recipes from classification codebases: mixup (a Beta-distributed lambda drawn
# in NumPy, a permutation index, the mixed criterion), CrossEntropyLoss(label_smoothing=)
# checked against a hand-written smoothed loss with log_softmax and scatter_, soft-target
# cross entropy with class probabilities, cutmix box pasting with slicing, and top-k
# accuracy with topk / eq / expand_as.
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

rng = np.random.default_rng(2)
num_classes = 5
x = torch.from_numpy(rng.standard_normal((8, 1, 6, 6)).astype(np.float32))
y = torch.from_numpy(rng.integers(0, num_classes, 8))

model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 16, num_classes))
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(
            torch.cos(torch.arange(p.numel(), dtype=torch.float32) * 0.29 + i).reshape(p.shape)
            * 0.2
        )


def mixup_data(x, y, alpha=1.0):
    lam = rng.beta(alpha, alpha) if alpha > 0 else 1
    batch_size = x.size()[0]
    index = torch.from_numpy(rng.permutation(batch_size))
    mixed_x = lam * x + (1 - lam) * x[index, :]
    y_a, y_b = y, y[index]
    return mixed_x, y_a, y_b, lam


def mixup_criterion(criterion, pred, y_a, y_b, lam):
    return lam * criterion(pred, y_a) + (1 - lam) * criterion(pred, y_b)


class LabelSmoothingLoss(nn.Module):
    def __init__(self, classes, smoothing=0.0, dim=-1):
        super().__init__()
        self.confidence = 1.0 - smoothing
        self.smoothing = smoothing
        self.cls = classes
        self.dim = dim

    def forward(self, pred, target):
        pred = pred.log_softmax(dim=self.dim)
        with torch.no_grad():
            true_dist = torch.zeros_like(pred)
            true_dist.fill_(self.smoothing / (self.cls - 1))
            true_dist.scatter_(1, target.data.unsqueeze(1), self.confidence)
        return torch.mean(torch.sum(-true_dist * pred, dim=self.dim))


logits = model(x)
builtin = nn.CrossEntropyLoss(label_smoothing=0.1)(logits, y)
# PyTorch spreads eps / K over all classes (the target too): confidence 1 - eps + eps/K
hand = LabelSmoothingLoss(num_classes, smoothing=0.1 * (num_classes - 1) / num_classes)(logits, y)
print("label smoothing:", round(builtin.item(), 6), round(hand.item(), 6))
soft = F.softmax(torch.arange(num_classes, dtype=torch.float32).repeat(8, 1) * 0.3, dim=1)
print(
    "soft targets:",
    round(F.cross_entropy(logits, soft).item(), 6),
    round(torch.sum(-soft * F.log_softmax(logits, dim=-1), dim=-1).mean().item(), 6),
)


def rand_bbox(size, lam):
    W, H = size[2], size[3]
    cut_rat = np.sqrt(1.0 - lam)
    cut_w, cut_h = int(W * cut_rat), int(H * cut_rat)
    cx, cy = rng.integers(W), rng.integers(H)
    bbx1, bby1 = np.clip(cx - cut_w // 2, 0, W), np.clip(cy - cut_h // 2, 0, H)
    bbx2, bby2 = np.clip(cx + cut_w // 2, 0, W), np.clip(cy + cut_h // 2, 0, H)
    return bbx1, bby1, bbx2, bby2


def accuracy(output, target, topk=(1,)):
    with torch.no_grad():
        maxk = max(topk)
        batch_size = target.size(0)
        _, pred = output.topk(maxk, 1, True, True)
        pred = pred.t()
        correct = pred.eq(target.view(1, -1).expand_as(pred))
        res = []
        for k in topk:
            correct_k = correct[:k].reshape(-1).float().sum(0, keepdim=True)
            res.append(correct_k.mul_(100.0 / batch_size))
        return res


criterion = nn.CrossEntropyLoss(label_smoothing=0.05)
optimizer = torch.optim.SGD(
    model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4
)
for step in range(6):
    if step % 2 == 0:
        inputs, targets_a, targets_b, lam = mixup_data(x, y, alpha=0.4)
        outputs = model(inputs)
        loss = mixup_criterion(criterion, outputs, targets_a, targets_b, lam)
        kind = "mixup"
    else:
        lam = rng.beta(1.0, 1.0)
        rand_index = torch.from_numpy(rng.permutation(x.size(0)))
        bbx1, bby1, bbx2, bby2 = rand_bbox(x.size(), lam)
        inputs = x.clone()
        inputs[:, :, bbx1:bbx2, bby1:bby2] = x[rand_index, :, bbx1:bbx2, bby1:bby2]
        lam = 1 - ((bbx2 - bbx1) * (bby2 - bby1) / (x.size()[-1] * x.size()[-2]))
        outputs = model(inputs)
        loss = criterion(outputs, y) * lam + criterion(outputs, y[rand_index]) * (1.0 - lam)
        kind = "cutmix"
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    print(kind, step, round(float(lam), 5), round(loss.item(), 5))
top1, top3 = accuracy(model(x), y, topk=(1, 3))
print("top1/top3:", top1.item(), top3.item(), list(top1.shape))
