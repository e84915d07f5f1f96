# Parameter sharing as language models do it (weight tying: decoder.weight =
# encoder.weight): the shared parameter appears once in parameters() and in the optimizer,
# named_parameters(remove_duplicate=False), state_dict keeps both keys, gradients from both
# uses add up, deepcopy keeps the tie, a module reused twice in forward, and a tied model
# trained a few steps (compared with an explicit formula).
import copy

import numpy as np
import torch
from torch import nn

rng = np.random.default_rng(0)
V, E = 7, 4


class TiedLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Embedding(V, E)
        self.hidden = nn.Linear(E, E)
        self.decoder = nn.Linear(E, V, bias=False)
        self.decoder.weight = self.encoder.weight

    def forward(self, ids):
        return self.decoder(torch.tanh(self.hidden(self.encoder(ids))))


model = TiedLM()
with torch.no_grad():
    for prm in model.parameters():
        prm.copy_(torch.from_numpy(rng.standard_normal(tuple(prm.shape)).astype(np.float32) * 0.5))
print("same object:", model.decoder.weight is model.encoder.weight)
print("parameters:", len(list(model.parameters())), [n for n, _ in model.named_parameters()])
print("with duplicates:", [n for n, _ in model.named_parameters(remove_duplicate=False)])
print("state_dict keys:", list(model.state_dict()))
ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
logits = model(ids)
loss = nn.functional.cross_entropy(logits.view(-1, V), ids.roll(-1, 1).view(-1))
loss.backward()
print("loss:", round(loss.item(), 5))
enc_grad = model.encoder.weight.grad.clone()
print(
    "shared grad:",
    enc_grad.abs().sum().item() > 0,
    model.decoder.weight.grad is model.encoder.weight.grad,
)
# the gradient is the sum of the embedding use and the decoder use
w = model.encoder.weight.detach().clone().requires_grad_()
w2 = model.encoder.weight.detach().clone().requires_grad_()
h = torch.tanh(model.hidden(nn.functional.embedding(ids, w)))
l2 = nn.functional.cross_entropy((h @ w2.T).view(-1, V), ids.roll(-1, 1).view(-1))
l2.backward()
print("grad is sum of both uses:", torch.allclose(enc_grad, w.grad + w2.grad, atol=1e-6))
opt = torch.optim.SGD(model.parameters(), lr=0.5)
print("optimizer params:", sum(len(g["params"]) for g in opt.param_groups))
for step in range(5):
    opt.zero_grad()
    loss = nn.functional.cross_entropy(model(ids).view(-1, V), ids.roll(-1, 1).view(-1))
    loss.backward()
    opt.step()
    print("step", step, round(loss.item(), 5))
print(
    "still tied:",
    model.decoder.weight is model.encoder.weight,
    torch.equal(model.decoder.weight, model.encoder.weight),
)
clone = copy.deepcopy(model)
print(
    "deepcopy keeps tie:",
    clone.decoder.weight is clone.encoder.weight,
    clone.encoder.weight is not model.encoder.weight,
)
fresh = TiedLM()
print(
    "load tied:",
    fresh.load_state_dict(model.state_dict()),
    fresh.decoder.weight is fresh.encoder.weight,
)
print("loaded equal:", torch.equal(fresh(ids), model(ids)))


class Siamese(nn.Module):
    def __init__(self):
        super().__init__()
        self.tower = nn.Linear(3, 2)

    def forward(self, a, b):
        return (self.tower(a) - self.tower(b)).pow(2).sum()


s = Siamese()
with torch.no_grad():
    s.tower.weight.copy_(torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]]))
    s.tower.bias.zero_()
out = s(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.0, 1.0, 0.0]))
out.backward()
print("module reused:", out.item(), s.tower.weight.grad, s.tower.bias.grad)
