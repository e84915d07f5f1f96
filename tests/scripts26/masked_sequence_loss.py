# Losses over padded sequences as seq2seq / language-model training code writes them:
# a padding mask from lengths (arange < lengths[:, None]), per-token losses with
# reduction="none" (cross_entropy over (N, C, T) and over flattened tokens), the masked
# mean (loss * mask).sum() / mask.sum(), the per-sequence mean then batch mean, the same
# through ignore_index, token accuracy on non-pad positions, and perplexity.
import math

import torch
import torch.nn.functional as F

N, T, C = 3, 5, 6
logits = torch.sin(torch.arange(N * T * C, dtype=torch.float32) * 0.37).view(N, T, C) * 2
targets = torch.tensor([[1, 2, 3, 0, 0], [4, 5, 1, 2, 3], [2, 2, 0, 0, 0]])
lengths = torch.tensor([3, 5, 2])
mask = torch.arange(T)[None, :] < lengths[:, None]
print("mask:", mask.int().tolist())
per_token = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
print("per-token shape:", per_token.shape)
flat = F.cross_entropy(logits.reshape(-1, C), targets.reshape(-1), reduction="none").view(N, T)
print("same flat:", torch.allclose(per_token, flat))
masked_mean = (per_token * mask).sum() / mask.sum()
print("masked mean:", round(masked_mean.item(), 6))
per_seq = (per_token * mask).sum(1) / lengths
print(
    "per-seq:",
    [round(v, 6) for v in per_seq.tolist()],
    "batch mean:",
    round(per_seq.mean().item(), 6),
)
ignore = targets.masked_fill(~mask, -100)
print(
    "ignore_index mean:",
    round(F.cross_entropy(logits.transpose(1, 2), ignore, ignore_index=-100).item(), 6),
)
print(
    "ignore_index sum:",
    round(F.cross_entropy(logits.reshape(-1, C), ignore.reshape(-1), reduction="sum").item(), 5),
)
pred = logits.argmax(-1)
acc = ((pred == targets) & mask).sum().float() / mask.sum()
print("token accuracy:", round(acc.item(), 6))
print(
    "perplexity:", round(math.exp(masked_mean.item()), 5), round(torch.exp(masked_mean).item(), 5)
)
w = torch.tensor([1.0, 2.0, 1.0, 0.5, 1.0, 1.0])
weighted = F.cross_entropy(logits.reshape(-1, C), ignore.reshape(-1), weight=w, ignore_index=-100)
print("weighted mean:", round(weighted.item(), 6))
lp = F.log_softmax(logits, -1)
nll = -lp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
print("gather nll equal:", torch.allclose(nll, per_token, atol=1e-6))
smoothed = F.cross_entropy(logits.reshape(-1, C), ignore.reshape(-1), label_smoothing=0.1)
print("smoothed:", round(smoothed.item(), 6))
