# A k-nearest-neighbour classifier and friends with torch.cdist: Euclidean / Manhattan /
# p-norm distances compared with the broadcasting formula, k smallest via topk
# (largest=False), majority vote with torch.mode and bincount, pairwise_distance,
# cosine similarity matrices, torch.dist, and a leave-one-out accuracy.
import numpy as np
import torch
import torch.nn.functional as F

rng = np.random.default_rng(0)
C, per = 3, 20
centers = torch.tensor([[0.0, 0.0], [3.0, 3.0], [0.0, 4.0]])
train_x = centers.repeat_interleave(per, 0) + torch.from_numpy(
    rng.standard_normal((C * per, 2)).astype(np.float32)
)
train_y = torch.arange(C).repeat_interleave(per)
test_x = torch.tensor([[0.2, -0.1], [2.8, 3.3], [0.1, 3.5], [1.5, 2.0]])
d = torch.cdist(test_x, train_x)
print("cdist:", d.shape, d[0, :4])
manual = ((test_x[:, None, :] - train_x[None, :, :]) ** 2).sum(-1).sqrt()
print("matches formula:", torch.allclose(d, manual, atol=1e-5))
print(
    "p=1:",
    torch.allclose(
        torch.cdist(test_x, train_x, p=1),
        (test_x[:, None] - train_x[None]).abs().sum(-1),
        atol=1e-5,
    ),
)
print("p=inf:", torch.cdist(test_x, train_x, p=float("inf"))[0, :3])
k = 5
dist, idx = d.topk(k, largest=False)
print("neighbours:", idx.tolist())
print("distances:", dist[:, 0])
votes = train_y[idx]
pred = torch.mode(votes, dim=1).values
print("mode vote:", pred.tolist())
pred2 = torch.stack([torch.bincount(v, minlength=C).argmax() for v in votes])
print("bincount vote:", pred2.tolist())
weights = 1 / (dist + 1e-8)
weighted = torch.zeros(len(test_x), C).scatter_add_(1, votes, weights)
print("weighted vote:", weighted.argmax(1).tolist())
dtrain = torch.cdist(train_x, train_x)
dtrain.fill_diagonal_(float("inf"))
loo = train_y[dtrain.topk(3, largest=False).indices].mode(1).values
print("leave-one-out acc:", (loo == train_y).float().mean().item())
print("batched cdist:", torch.cdist(train_x.view(3, 20, 2), test_x.expand(3, 4, 2)).shape)
print("pairwise_distance:", F.pairwise_distance(test_x, test_x.flip(0)))
print("pdist:", F.pdist(test_x))
normed = F.normalize(test_x, dim=1)
print("cosine matrix:", normed @ normed.T)
print("cosine_similarity:", F.cosine_similarity(test_x[:, None], test_x[None], dim=-1)[0])
print("dist:", torch.dist(test_x[0], test_x[1]), torch.dist(test_x[0], test_x[1], p=1))
print("norm:", torch.linalg.vector_norm(test_x, dim=1), test_x.norm(p=2, dim=1, keepdim=True).shape)
a = test_x.clone().requires_grad_()
torch.cdist(a, train_x[:5]).sum().backward()
print("cdist grad:", a.grad[0])
