# topk / sort idioms of evaluation and decoding code: top-1 / top-5 accuracy (the
# ImageNet example's accuracy()), topk with largest=False and sorted=False, sort with
# descending / stable, argsort, kthvalue, a beam-search step (log-prob sums over beams
# flattened, topk, divmod back to beam and token), gather with topk indices, and msort.
import numpy as np
import torch

rng = np.random.default_rng(0)
output = torch.from_numpy(rng.standard_normal((8, 10)).astype(np.float32))
target = torch.from_numpy(rng.integers(0, 10, 8))


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


print("acc@1,5:", accuracy(output, target, topk=(1, 5)))
v, i = torch.topk(output[0], 3)
print("topk:", v, i)
print("topk namedtuple:", torch.topk(output[0], 2))
print("smallest:", torch.topk(output[0], 3, largest=False).indices.tolist())
v_unsorted = torch.topk(output[1], 4, sorted=False).values
print(
    "unsorted same set:",
    sorted(v_unsorted.tolist()) == sorted(torch.topk(output[1], 4).values.tolist()),
)
print("topk dim 0:", output.topk(2, dim=0).indices[:, :4].tolist())
vals = torch.tensor([3, 1, 2, 1, 3, 1])
s = torch.sort(vals, stable=True)
print("stable sort:", s.values.tolist(), s.indices.tolist())
print("descending stable:", torch.sort(vals, descending=True, stable=True).indices.tolist())
print("argsort:", torch.argsort(output[2], descending=True).tolist())
print("kthvalue:", torch.kthvalue(output[3], 2), torch.kthvalue(output, 3, dim=1).values[:3])
print("msort:", torch.msort(torch.tensor([[3, 1], [1, 2], [2, 0]])).tolist())
print("max/argmax:", output.max(dim=1), output.argmax(1).tolist())
print("min keepdim:", output.min(dim=0, keepdim=True).values.shape)
print("gather topk:", torch.gather(output, 1, output.topk(2, dim=1).indices)[:2])
beam, vocab = 3, 10
log_probs = torch.log_softmax(output[:beam], dim=-1)
beam_scores = torch.tensor([0.0, -0.5, -1.0])
cand = (beam_scores[:, None] + log_probs).view(-1)
top_scores, flat_idx = cand.topk(beam)
beam_idx = torch.div(flat_idx, vocab, rounding_mode="floor")
token_idx = flat_idx % vocab
print("beam step:", top_scores, beam_idx.tolist(), token_idx.tolist())
print("divmod:", (flat_idx // vocab).tolist(), torch.remainder(flat_idx, vocab).tolist())
ties = torch.tensor([1.0, 2.0, 2.0, 0.5])
print(
    "ties:",
    ties.argmax().item(),
    ties.topk(2).indices.tolist(),
    torch.sort(ties, descending=True, stable=True).indices.tolist(),
)
print(
    "unique sorted:",
    torch.unique(vals),
    torch.unique(vals, return_counts=True, return_inverse=True),
)
print("unique_consecutive:", torch.unique_consecutive(torch.tensor([1, 1, 2, 2, 3, 1])))
print(
    "searchsorted:",
    torch.searchsorted(torch.tensor([1, 3, 5, 7]), torch.tensor([3, 6, 9])).tolist(),
)
scores = torch.tensor([0.9, 0.1, 0.8, 0.4], requires_grad=True)
top = scores.topk(2).values.sum()
top.backward()
print("topk grad:", scores.grad)
