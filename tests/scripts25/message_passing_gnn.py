# Graph neural networks without sparse tensors, as PyG-style code writes message passing:
# an edge_index of (source, target) rows, degrees by bincount, symmetric normalization,
# messages gathered by index and aggregated by index_add_ / scatter_reduce (sum, mean,
# amax), a two-layer GCN and a GraphSAGE-style mean aggregator trained a few steps on a
# small graph, and global mean pooling over a batch vector.
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

rng = np.random.default_rng(0)
edges = [(0, 1), (1, 2), (2, 0), (2, 3), (3, 4), (4, 5), (5, 3), (1, 4)]
src = torch.tensor([a for a, b in edges] + [b for a, b in edges])
dst = torch.tensor([b for a, b in edges] + [a for a, b in edges])
edge_index = torch.stack([src, dst])
N = 6
print("edge_index:", edge_index.shape, edge_index[:, :4].tolist())
loops = torch.arange(N)
ei = torch.cat([edge_index, torch.stack([loops, loops])], 1)
deg = torch.bincount(ei[1], minlength=N).float()
print("degree:", deg.tolist())
norm = deg[ei[0]].rsqrt() * deg[ei[1]].rsqrt()
x = torch.from_numpy(rng.standard_normal((N, 4)).astype(np.float32))


def propagate(h, reduce="sum"):
    msg = h[ei[0]] * (norm.unsqueeze(1) if reduce == "sum" else 1.0)
    if reduce == "sum":
        return torch.zeros(N, h.shape[1]).index_add_(0, ei[1], msg)
    index = ei[1].unsqueeze(1).expand(-1, h.shape[1])
    return torch.zeros(N, h.shape[1]).scatter_reduce(
        0, index, msg, reduce=reduce, include_self=False
    )


print("sum:", propagate(x)[0])
print("mean:", propagate(x, "mean")[2])
print("amax:", propagate(x, "amax")[3])
adj = torch.zeros(N, N)
adj[ei[1], ei[0]] = 1.0
dense = (deg.rsqrt().unsqueeze(1) * adj * deg.rsqrt().unsqueeze(0)) @ x
print("matches dense:", torch.allclose(dense, propagate(x), atol=1e-6))


class GCN(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 8)
        self.l2 = nn.Linear(8, 2)

    def forward(self, h):
        h = F.relu(propagate(self.l1(h)))
        return propagate(self.l2(h))


model = GCN()
with torch.no_grad():
    for prm in model.parameters():
        prm.copy_(torch.from_numpy(rng.standard_normal(tuple(prm.shape)).astype(np.float32) * 0.4))
y = torch.tensor([0, 0, 0, 1, 1, 1])
train_mask = torch.tensor([True, False, True, True, False, True])
opt = torch.optim.Adam(model.parameters(), lr=0.05, weight_decay=5e-4)
for epoch in range(10):
    opt.zero_grad()
    out = model(x)
    loss = F.cross_entropy(out[train_mask], y[train_mask])
    loss.backward()
    opt.step()
    if epoch % 3 == 0:
        print("epoch", epoch, round(loss.item(), 5))
pred = model(x).argmax(1)
print(
    "pred:", pred.tolist(), "test acc:", (pred[~train_mask] == y[~train_mask]).float().mean().item()
)


class SAGE(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_lin = nn.Linear(4, 3)
        self.neigh_lin = nn.Linear(4, 3, bias=False)

    def forward(self, h):
        index = edge_index[1].unsqueeze(1).expand(-1, h.shape[1])
        agg = torch.zeros_like(h).scatter_reduce(
            0, index, h[edge_index[0]], reduce="mean", include_self=False
        )
        return F.normalize(self.self_lin(h) + self.neigh_lin(agg), dim=1)


sage = SAGE()
with torch.no_grad():
    for prm in sage.parameters():
        prm.copy_(torch.from_numpy(rng.standard_normal(tuple(prm.shape)).astype(np.float32) * 0.4))
hs = sage(x)
hs.sum().backward()
print("sage:", hs[1], sage.neigh_lin.weight.grad[0])
batch = torch.tensor([0, 0, 0, 1, 1, 1])
pooled = torch.zeros(2, 4).index_add_(0, batch, x) / torch.bincount(batch).unsqueeze(1)
print("global mean pool:", pooled)
