# torch.nn.functional docs examples: one_hot, embedding (padding_idx, max_norm),
# embedding_bag with offsets and per_sample_weights, pad in every mode, and the
# nn.Embedding.from_pretrained recipe.
import torch
import torch.nn as nn
import torch.nn.functional as F

print("one_hot:", F.one_hot(torch.arange(0, 5) % 3).tolist())
print("one_hot classes:", F.one_hot(torch.arange(0, 5) % 3, num_classes=5).tolist())
print(
    "one_hot 2d:",
    F.one_hot(torch.arange(0, 6).view(3, 2) % 3).shape,
    F.one_hot(torch.tensor([2])).dtype,
)
try:
    F.one_hot(torch.tensor([0, 3]), num_classes=3)
except RuntimeError:
    print("one_hot out of range: RuntimeError")

input = torch.tensor([[1, 2, 4, 5], [4, 3, 2, 9]])
embedding_matrix = torch.linspace(-1, 1, 30).reshape(10, 3)
print(
    "embedding:",
    F.embedding(input, embedding_matrix).shape,
    F.embedding(input, embedding_matrix)[1, 3].tolist(),
)
weights = torch.linspace(0, 1, 30).reshape(10, 3)
weights[0, :].zero_()
emb = F.embedding(torch.tensor([[0, 2, 0, 5]]), weights, padding_idx=0)
print("padding_idx:", emb.numpy().round(5).tolist())
w = torch.tensor([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]])
F.embedding(torch.tensor([0, 1]), w, max_norm=1.0)
print("max_norm renormalized in place:", w.numpy().round(5).tolist())

embedding = nn.Embedding(10, 3, padding_idx=2)
print("padding row zero:", embedding.weight[2].tolist())
out = embedding(torch.tensor([[2, 1, 2]]))
out.sum().backward()
print("padding row grad:", embedding.weight.grad[2].tolist(), embedding.weight.grad[1].tolist())
pretrained = torch.FloatTensor([[1, 2.3, 3], [4, 5.1, 6.3]])
embedding = nn.Embedding.from_pretrained(pretrained)
print("from_pretrained:", embedding(torch.LongTensor([1])).tolist(), embedding.weight.requires_grad)

embedding_matrix = torch.linspace(-1, 1, 30).reshape(10, 3)
input = torch.tensor([1, 2, 4, 5, 4, 3, 2, 9])
offsets = torch.tensor([0, 4])
print(
    "embedding_bag sum:",
    F.embedding_bag(input, embedding_matrix, offsets, mode="sum").numpy().round(5).tolist(),
)
print(
    "embedding_bag mean:",
    F.embedding_bag(input, embedding_matrix, offsets).numpy().round(5).tolist(),
)
print(
    "embedding_bag max:",
    F.embedding_bag(input, embedding_matrix, offsets, mode="max").numpy().round(5).tolist(),
)
psw = torch.tensor([1.0, 0.5, 0.5, 2.0, 1.0, 1.0, 1.0, 1.0])
print(
    "per_sample_weights:",
    F.embedding_bag(input, embedding_matrix, offsets, mode="sum", per_sample_weights=psw)
    .numpy()
    .round(5)
    .tolist(),
)
bag = nn.EmbeddingBag.from_pretrained(embedding_matrix, mode="sum", padding_idx=2)
print("bag padding_idx:", bag(input, offsets).numpy().round(5).tolist())
print("bag 2d input:", bag(torch.tensor([[1, 2], [4, 5]])).numpy().round(5).tolist())

t4d = torch.arange(2 * 3 * 3, dtype=torch.float32).reshape(1, 2, 3, 3)
p1d = (1, 1)
print("pad last dim:", F.pad(t4d, p1d, "constant", 0).size())
p2d = (1, 1, 2, 2)
print("pad 2 dims:", F.pad(t4d, p2d, "constant", 0).size())
t3 = torch.empty(3, 3, 4, 2)
print("pad 3 dims:", F.pad(t3, (0, 1, 2, 1, 3, 3), "constant", 0).size())
print("reflect:", F.pad(t4d, (2, 1, 1, 0), mode="reflect")[0, 0].tolist())
print("replicate:", F.pad(t4d, (2, 1, 1, 0), mode="replicate")[0, 1].tolist())
print("circular:", F.pad(t4d, (1, 2, 2, 1), mode="circular")[0, 0].tolist())
print("constant value:", F.pad(torch.ones(2, 2), (1, 0), value=-1.0).tolist())
print("negative pad crops:", F.pad(torch.arange(6.0).reshape(2, 3), (-1, 0)).tolist())
x = torch.arange(4.0).reshape(1, 1, 4).requires_grad_(True)
F.pad(x, (2, 2), mode="reflect").sum().backward()
print("reflect grad:", x.grad.tolist())
print("ZeroPad2d:", nn.ZeroPad2d((1, 0, 0, 1))(torch.ones(1, 1, 2, 2)).tolist())
print("ReflectionPad1d:", nn.ReflectionPad1d(2)(torch.arange(4.0).reshape(1, 1, 4)).tolist())
print("ConstantPad1d:", nn.ConstantPad1d((0, 2), 3.5)(torch.zeros(1, 2)).tolist())
