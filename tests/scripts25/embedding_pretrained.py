# nn.Embedding.from_pretrained as NLP tutorials use it (GloVe-style vectors): freeze=True
# and False, padding_idx (zero gradient at the pad row), max_norm renormalization,
# EmbeddingBag.from_pretrained with mode mean / sum / max and offsets, per_sample_weights,
# F.embedding, and cosine-similarity nearest words.
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

rng = np.random.default_rng(0)
vocab = ["<pad>", "the", "cat", "dog", "sat", "mat", "ran"]
vectors = torch.from_numpy(rng.standard_normal((len(vocab), 4)).astype(np.float32))
vectors[0] = 0
emb = nn.Embedding.from_pretrained(vectors)
print("frozen:", emb.weight.requires_grad, emb.num_embeddings, emb.embedding_dim, emb)
ids = torch.tensor([[1, 2, 4], [3, 4, 0]])
print("lookup:", emb(ids)[1])
emb = nn.Embedding.from_pretrained(vectors.clone(), freeze=False, padding_idx=0)
print("trainable:", emb.weight.requires_grad, emb.padding_idx, emb)
out = emb(ids)
(out * torch.arange(1.0, 5.0)).sum().backward()
print("grad rows:", emb.weight.grad.sum(1).tolist())
print("pad grad zero:", emb.weight.grad[0].abs().sum().item())
opt = torch.optim.SGD(emb.parameters(), lr=0.1)
opt.step()
print("after step row 4:", emb.weight[4])
print("pad row kept:", emb.weight[0].tolist())
scaled = vectors.clone() * 3
emb_norm = nn.Embedding.from_pretrained(scaled, max_norm=1.0)
looked = emb_norm(torch.tensor([1, 2]))
print("max_norm norms:", looked.norm(dim=1))
print(
    "weight renormalized in place:",
    emb_norm.weight[1].norm().item() <= 1.0 + 1e-5,
    round(emb_norm.weight[3].norm().item(), 4),
)
bag = nn.EmbeddingBag.from_pretrained(vectors, mode="mean")
flat = torch.tensor([1, 2, 4, 3, 4, 6])
offsets = torch.tensor([0, 3])
print("bag mean:", bag(flat, offsets))
print("bag 2-d:", bag(ids))
bag_sum = nn.EmbeddingBag.from_pretrained(vectors, mode="sum")
print(
    "bag sum weighted:",
    bag_sum(flat, offsets, per_sample_weights=torch.tensor([1.0, 0.5, 2.0, 1.0, 1.0, 0.1])),
)
bag_max = nn.EmbeddingBag.from_pretrained(vectors, mode="max")
print("bag max:", bag_max(flat, offsets))
print(
    "bag include_last_offset:",
    nn.EmbeddingBag.from_pretrained(vectors, mode="sum", include_last_offset=True)(
        flat, torch.tensor([0, 2, 6])
    ),
)
print("F.embedding:", F.embedding(torch.tensor([2, 5]), vectors))
print("F.embedding padding_idx:", F.embedding(torch.tensor([0, 5]), vectors, padding_idx=0).shape)
sims = F.cosine_similarity(vectors[2].unsqueeze(0), vectors[1:], dim=1)
print("cosine:", sims)
top = sims.topk(3)
print("nearest to cat:", [vocab[i + 1] for i in top.indices.tolist()], top.values)
normed = F.normalize(vectors[1:], dim=1)
print("normalize matmul:", torch.allclose(normed @ normed[1], sims, atol=1e-6))
