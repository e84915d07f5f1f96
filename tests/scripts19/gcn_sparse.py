# pytorch/examples "gcn" style graph convolution: an adjacency built from an edge list
# with torch.sparse_coo_tensor, self-loops, the symmetric normalization
# D^-1/2 (A + I) D^-1/2 computed with sparse and dense ops, torch.sparse.mm in a
# GraphConv layer with a Parameter weight and xavier-like fixed init, dropout off, NLL
# loss on a training mask, and accuracy on the remaining nodes.
import torch
import torch.nn as nn
import torch.nn.functional as F

edges = torch.tensor(
    [[0, 1], [1, 2], [2, 0], [3, 4], [4, 5], [5, 3], [2, 3], [6, 7], [7, 8], [8, 6], [5, 6]]
)
num_nodes = 9
edge_index = torch.cat([edges, edges.flip(1)], 0).t()
values = torch.ones(edge_index.shape[1])
adj = torch.sparse_coo_tensor(edge_index, values, (num_nodes, num_nodes))
print("adjacency:", adj.is_sparse, adj._nnz(), list(adj.shape))
adj = adj + torch.sparse_coo_tensor(
    torch.arange(num_nodes).repeat(2, 1), torch.ones(num_nodes), (num_nodes, num_nodes)
)
adj = adj.coalesce()
deg = torch.sparse.sum(adj, dim=1).to_dense()
print("degrees:", deg.tolist())
d_inv_sqrt = deg.pow(-0.5)
d_inv_sqrt[torch.isinf(d_inv_sqrt)] = 0.0
idx = adj.indices()
norm_vals = d_inv_sqrt[idx[0]] * adj.values() * d_inv_sqrt[idx[1]]
adj_norm = torch.sparse_coo_tensor(idx, norm_vals, adj.shape).coalesce()
dense_check = torch.diag(d_inv_sqrt) @ adj.to_dense() @ torch.diag(d_inv_sqrt)
print("normalized equals dense:", torch.allclose(adj_norm.to_dense(), dense_check))


class GraphConv(nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        with torch.no_grad():
            self.weight.copy_(
                torch.sin(torch.arange(in_features * out_features, dtype=torch.float32)).reshape(
                    in_features, out_features
                )
                * 0.5
            )
            if self.bias is not None:
                self.bias.zero_()

    def forward(self, input, adj):
        support = torch.mm(input, self.weight)
        output = torch.sparse.mm(adj, support)
        return output + self.bias if self.bias is not None else output


class GCN(nn.Module):
    def __init__(self, nfeat, nhid, nclass, dropout):
        super().__init__()
        self.gc1 = GraphConv(nfeat, nhid)
        self.gc2 = GraphConv(nhid, nclass)
        self.dropout = dropout

    def forward(self, x, adj):
        x = F.relu(self.gc1(x, adj))
        x = F.dropout(x, self.dropout, training=self.training)
        x = self.gc2(x, adj)
        return F.log_softmax(x, dim=1)


features = (
    torch.eye(num_nodes)[:, :6] + 0.1 * torch.arange(num_nodes * 6.0).reshape(num_nodes, 6).cos()
)
labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2])
idx_train = torch.tensor([0, 3, 6, 1])
idx_test = torch.tensor([2, 4, 5, 7, 8])
model = GCN(6, 8, 3, dropout=0.0)
optimizer = torch.optim.Adam(model.parameters(), lr=0.05, weight_decay=5e-4)


def accuracy(output, labels):
    preds = output.max(1)[1].type_as(labels)
    correct = preds.eq(labels).double()
    return correct.sum() / len(labels)


for epoch in range(15):
    model.train()
    optimizer.zero_grad()
    output = model(features, adj_norm)
    loss_train = F.nll_loss(output[idx_train], labels[idx_train])
    acc_train = accuracy(output[idx_train], labels[idx_train])
    loss_train.backward()
    optimizer.step()
    if epoch % 5 == 4:
        print(
            f"Epoch: {epoch + 1:04d} loss_train: {loss_train.item():.4f} "
            f"acc_train: {acc_train.item():.4f}"
        )
model.eval()
output = model(features, adj_norm)
print(
    "test loss:",
    round(F.nll_loss(output[idx_test], labels[idx_test]).item(), 5),
    "acc:",
    accuracy(output[idx_test], labels[idx_test]).item(),
)
print(
    "weight grad:", model.gc1.weight.grad.shape, round(model.gc1.weight.grad.abs().sum().item(), 5)
)
