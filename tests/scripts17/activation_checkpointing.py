# Activation checkpointing (torch.utils.checkpoint docs and the "activation checkpointing"
# recipe): checkpoint(use_reentrant=False) inside a model's forward, checkpoint_sequential,
# preserving RNG state for dropout, non-tensor arguments and keyword arguments; gradients
# must equal those of the plain model.
import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint, checkpoint_sequential


def init(module):
    with torch.no_grad():
        for i, p in enumerate(module.parameters()):
            p.copy_(
                torch.cos(torch.arange(p.numel(), dtype=torch.float32) * 0.7 + i).reshape(p.shape)
                * 0.3
            )


class Block(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.norm(x))))


class Model(nn.Module):
    def __init__(self, dim=8, depth=3, use_checkpoint=False):
        super().__init__()
        self.blocks = nn.ModuleList(Block(dim) for _ in range(depth))
        self.head = nn.Linear(dim, 2)
        self.use_checkpoint = use_checkpoint

    def forward(self, x):
        for block in self.blocks:
            if self.use_checkpoint:
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return self.head(x)


x = torch.linspace(-2, 2, 40).reshape(5, 8)
target = torch.tensor([0, 1, 1, 0, 1])
grads = {}
for flag in (False, True):
    model = Model(use_checkpoint=flag)
    init(model)
    loss = nn.functional.cross_entropy(model(x), target)
    loss.backward()
    grads[flag] = [p.grad.clone() for p in model.parameters()]
    print(f"checkpoint={flag} loss:", round(loss.item(), 6))
print(
    "same grads:", all(torch.allclose(a, b, atol=1e-6) for a, b in zip(grads[False], grads[True]))
)
print("head grad:", grads[True][-1].numpy().round(5).tolist())

# checkpoint_sequential splits an nn.Sequential into segments
seq = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 4))
init(seq)
inp = x.clone().requires_grad_(True)
out = checkpoint_sequential(seq, 2, inp, use_reentrant=False)
out.sum().backward()
ref_inp = x.clone().requires_grad_(True)
seq(ref_inp).sum().backward()
print("checkpoint_sequential output:", round(out.sum().item(), 5))
print("input grad equal:", torch.allclose(inp.grad, ref_inp.grad, atol=1e-6))


# keyword and non-tensor arguments pass through
def scaled(a, b, *, alpha, mode="add"):
    return a * alpha + b if mode == "add" else a * b * alpha


a = torch.tensor([1.0, 2.0], requires_grad=True)
b = torch.tensor([3.0, 4.0], requires_grad=True)
r = checkpoint(scaled, a, b, alpha=2.5, mode="mul", use_reentrant=False)
r.sum().backward()
print("kwargs:", r.tolist(), a.grad.tolist(), b.grad.tolist())

# dropout inside a checkpoint: the recomputation replays the same mask
drop_model = nn.Sequential(nn.Linear(8, 32), nn.Dropout(0.5), nn.Linear(32, 1))
init(drop_model)
torch.manual_seed(0)
inp = x.clone().requires_grad_(True)
out = checkpoint(drop_model, inp, use_reentrant=False, preserve_rng_state=True)
out.sum().backward()
torch.manual_seed(0)
ref = x.clone().requires_grad_(True)
ref_out = drop_model(ref)
ref_out.sum().backward()
print("dropout replay same output:", torch.equal(out, ref_out))
print("dropout replay same grad:", torch.allclose(inp.grad, ref.grad, atol=1e-6))
with torch.no_grad():
    print("under no_grad:", checkpoint(seq, x, use_reentrant=False).requires_grad)
