# "Parametrizations tutorial": register_parametrization with Symmetric, Skew +
# MatrixExponential chained, right_inverse and assignment, caching, inspecting
# parametrizations.weight.original, and removing them.
import torch
import torch.nn as nn
import torch.nn.utils.parametrize as P


def symmetric(X):
    return X.triu() + X.triu(1).transpose(-1, -2)


class Symmetric(nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).transpose(-1, -2)


class Skew(nn.Module):
    def forward(self, X):
        A = X.triu(1)
        return A - A.transpose(-1, -2)


class MatrixExponential(nn.Module):
    def forward(self, X):
        return torch.matrix_exp(X)


class SymmetricInv(nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).transpose(-1, -2)

    def right_inverse(self, A):
        return A.triu()


def fill(layer):
    with torch.no_grad():
        layer.weight.copy_(torch.linspace(-1, 1, layer.weight.numel()).reshape(layer.weight.shape))
        layer.bias.zero_()


X = torch.linspace(-1, 1, 9).reshape(3, 3)
A = symmetric(X)
print("symmetric:", torch.allclose(A, A.T), A.tolist())

layer = nn.Linear(3, 3)
fill(layer)
P.register_parametrization(layer, "weight", Symmetric())
A = layer.weight
print("layer weight symmetric:", torch.allclose(A, A.T))
print(
    "is_parametrized:",
    P.is_parametrized(layer),
    P.is_parametrized(layer, "weight"),
    P.is_parametrized(layer, "bias"),
)
print("named params:", [n for n, _ in layer.named_parameters()])
print("original:", layer.parametrizations.weight.original.tolist())
print("class name:", type(layer).__name__)

layer_orth = nn.Linear(3, 3)
fill(layer_orth)
P.register_parametrization(layer_orth, "weight", Skew())
P.register_parametrization(layer_orth, "weight", MatrixExponential())
Q = layer_orth.weight
print("orthogonal:", torch.dist(Q.T @ Q, torch.eye(3)).item() < 1e-5)
print("chain length:", len(layer_orth.parametrizations.weight))

# caching
with P.cached():
    w1 = layer.weight
    w2 = layer.weight
    print("cached same object:", w1 is w2)
print("uncached new object:", layer.weight is not layer.weight)

# right_inverse: assigning to the parametrized tensor
layer2 = nn.Linear(3, 3)
fill(layer2)
P.register_parametrization(layer2, "weight", SymmetricInv())
print("after register, original:", layer2.parametrizations.weight.original.tolist())
X = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 5.0], [3.0, 5.0, 6.0]])
layer2.weight = X
print("assigned original:", layer2.parametrizations.weight.original.tolist())
print("assigned weight:", layer2.weight.tolist())

# training through the parametrization keeps it symmetric
opt = torch.optim.SGD(layer.parameters(), lr=0.1)
x = torch.linspace(-1, 1, 12).reshape(4, 3)
for _ in range(3):
    opt.zero_grad()
    loss = layer(x).pow(2).sum()
    loss.backward()
    opt.step()
print("trained loss:", round(loss.item(), 5), torch.allclose(layer.weight, layer.weight.T))
print("grad on original:", layer.parametrizations.weight.original.grad is not None)

# removing
P.remove_parametrizations(layer, "weight", leave_parametrized=True)
print("removed:", P.is_parametrized(layer), [n for n, _ in layer.named_parameters()])
print("kept symmetric:", torch.allclose(layer.weight, layer.weight.T))
P.remove_parametrizations(layer2, "weight", leave_parametrized=False)
print("left original:", layer2.weight.tolist())
print("state_dict keys:", sorted(layer_orth.state_dict()))
