# Word2vec skip-gram with negative sampling as commonly implemented in PyTorch: a
# vocabulary with subsampled unigram^(3/4) noise distribution (negatives drawn in NumPy),
# (center, context) pairs from a window, two nn.Embedding tables (sparse=False) with
# uniform_ init bounds replaced by a fixed fill, torch.bmm of context / negative vectors,
# F.logsigmoid losses, SparseAdam-free plain SGD, and cosine-similarity nearest words.
from collections import Counter

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

corpus = (
    "the king rules the land the queen rules the land a man walks a woman walks the king and queen"
).split()
counts = Counter(corpus)
vocab = sorted(counts)
w2i = {w: i for i, w in enumerate(vocab)}
V = len(vocab)
freqs = np.array([counts[w] for w in vocab], dtype=np.float64)
noise = freqs**0.75 / np.sum(freqs**0.75)
print("vocab:", V, "noise dist:", np.round(noise, 5).tolist()[:4])

window = 2
pairs = []
for i, w in enumerate(corpus):
    for j in range(max(0, i - window), min(len(corpus), i + window + 1)):
        if j != i:
            pairs.append((w2i[w], w2i[corpus[j]]))
print("pairs:", len(pairs), pairs[:3])
rng = np.random.default_rng(13)
K = 3


class SkipGramNeg(nn.Module):
    def __init__(self, vocab_size, emb_dim):
        super().__init__()
        self.in_embed = nn.Embedding(vocab_size, emb_dim)
        self.out_embed = nn.Embedding(vocab_size, emb_dim)
        with torch.no_grad():
            self.in_embed.weight.copy_(
                torch.sin(torch.arange(vocab_size * emb_dim, dtype=torch.float32)).reshape(
                    vocab_size, emb_dim
                )
                * 0.5
            )
            self.out_embed.weight.copy_(
                torch.cos(torch.arange(vocab_size * emb_dim, dtype=torch.float32)).reshape(
                    vocab_size, emb_dim
                )
                * 0.5
            )

    def forward(self, input_words, output_words, noise_words):
        batch_size, embed_size = input_words.shape[0], self.in_embed.embedding_dim
        input_vectors = self.in_embed(input_words).view(batch_size, embed_size, 1)
        output_vectors = self.out_embed(output_words).view(batch_size, 1, embed_size)
        noise_vectors = self.out_embed(noise_words).view(batch_size, K, embed_size)
        out_loss = torch.bmm(output_vectors, input_vectors).sigmoid().log().squeeze()
        noise_loss = torch.bmm(noise_vectors.neg(), input_vectors).sigmoid().log()
        noise_loss = noise_loss.squeeze().sum(1)
        return -(out_loss + noise_loss).mean()


model = SkipGramNeg(V, 6)
optimizer = torch.optim.SGD(model.parameters(), lr=0.2)
data = torch.tensor(pairs)
for epoch in range(4):
    total = 0.0
    for start in range(0, len(pairs), 16):
        batch = data[start : start + 16]
        negs = torch.from_numpy(rng.choice(V, size=(len(batch), K), p=noise))
        loss = model(batch[:, 0], batch[:, 1], negs)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += loss.item()
    print(f"epoch {epoch}: {total:.5f}")

# the same loss with F.logsigmoid, on one batch
b = data[:8]
negs = torch.from_numpy(rng.choice(V, size=(8, K), p=noise))
u = model.in_embed(b[:, 0])
v = model.out_embed(b[:, 1])
n = model.out_embed(negs)
pos = F.logsigmoid((u * v).sum(-1))
neg = F.logsigmoid(-torch.einsum("bkd,bd->bk", n, u)).sum(-1)
print(
    "logsigmoid loss:",
    round(-(pos + neg).mean().item(), 6),
    round(model(b[:, 0], b[:, 1], negs).item(), 6),
)

emb = F.normalize(model.in_embed.weight.detach(), dim=1)
sims = emb @ emb.T
for word in ["king", "walks"]:
    top = sims[w2i[word]].topk(3).indices.tolist()
    print("nearest to", word, [vocab[i] for i in top])
print(
    "cosine king/queen:",
    round(F.cosine_similarity(emb[w2i["king"]], emb[w2i["queen"]], dim=0).item(), 5),
)
