# nn.Embedding and nn.EmbeddingBag options as their docs describe them: max_norm (rows
# looked up are renormalised in place in the weight), norm_type, scale_grad_by_freq
# (gradients divided by the id's frequency in the batch), padding_idx (no gradient, zero
# row at init kept), F.embedding with the same options, EmbeddingBag modes sum / mean /
# max with offsets, per_sample_weights, include_last_offset and padding_idx; plus
# F.cosine_similarity / F.normalize near zero vectors.
import torch
import torch.nn as nn
import torch.nn.functional as F

weight = torch.arange(1.0, 13.0).view(6, 2) / 4
emb = nn.Embedding(6, 2, max_norm=1.0)
with torch.no_grad():
    emb.weight.copy_(weight)
ids = torch.tensor([[0, 2, 2], [5, 1, 0]])
out = emb(ids)
print("max_norm out:", out)
print("weight renormed rows:", emb.weight.norm(dim=1))
print("untouched row 3:", emb.weight[3].tolist())

emb1 = nn.Embedding(6, 2, max_norm=2.0, norm_type=1.0)
with torch.no_grad():
    emb1.weight.copy_(weight)
emb1(torch.tensor([4, 5]))
print("norm_type 1 rows:", emb1.weight[4:].tolist())

emb2 = nn.Embedding(6, 2, scale_grad_by_freq=True, padding_idx=1)
with torch.no_grad():
    emb2.weight.copy_(weight)
emb2(torch.tensor([2, 2, 2, 3, 1, 1])).sum().backward()
print("scaled grads:", emb2.weight.grad.tolist())

pad = nn.Embedding(4, 3, padding_idx=0)
print("padding row at init:", pad.weight[0].tolist())

w = weight.clone()
print(
    "F.embedding max_norm:", F.embedding(torch.tensor([5]), w, max_norm=0.5).tolist(), w[5].tolist()
)

bag_weight = torch.arange(1.0, 11.0).view(5, 2)
for mode in ("sum", "mean", "max"):
    bag = nn.EmbeddingBag.from_pretrained(bag_weight, mode=mode)
    print(
        "bag", mode + ":", bag(torch.tensor([0, 1, 2, 3, 4, 4]), torch.tensor([0, 2, 2])).tolist()
    )
bag = nn.EmbeddingBag.from_pretrained(bag_weight, mode="sum")
psw = torch.tensor([0.5, 2.0, 1.0, -1.0])
print(
    "per_sample_weights:",
    bag(torch.tensor([0, 1, 2, 3]), torch.tensor([0, 2]), per_sample_weights=psw).tolist(),
)
bag_last = nn.EmbeddingBag.from_pretrained(bag_weight, mode="mean", include_last_offset=True)
print(
    "include_last_offset:", bag_last(torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 4])).tolist()
)
bag_pad = nn.EmbeddingBag.from_pretrained(bag_weight, mode="mean", padding_idx=0)
print("bag padding_idx:", bag_pad(torch.tensor([[0, 1, 2], [0, 0, 3]])).tolist())

a = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1e-9, 1e-9]])
b = torch.tensor([[1.0, 1.0], [1.0, 0.0], [1e-9, 0.0]])
print("cosine:", F.cosine_similarity(a, b, dim=1).tolist())
print("normalize zeros:", F.normalize(a, dim=1).tolist())
print("pairwise:", F.pairwise_distance(a, b).tolist())
