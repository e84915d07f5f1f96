# "Extension points in nn.Module for load_state_dict and tensor subclasses" and the meta
# device: building a model without memory on the meta device, to_empty, loading weights
# with load_state_dict(assign=True), torch.utils.swap_tensors, and shape reasoning on meta.
import torch
import torch.nn as nn


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.bn = nn.BatchNorm1d(8)
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc2(self.bn(self.fc1(x)).relu())


# the checkpoint we want to load
torch.manual_seed(0)
source = MLP()
with torch.no_grad():
    for i, p in enumerate(source.parameters()):
        p.copy_(torch.linspace(-1, 1, p.numel()).reshape(p.shape) * (i + 1))
state_dict = source.state_dict()

with torch.device("meta"):
    meta_model = MLP()
print(
    "meta params:",
    [p.device.type for p in meta_model.parameters()][:2],
    meta_model.fc1.weight.is_meta,
)
print("meta shape:", meta_model.fc1.weight.shape, meta_model.fc1.weight.dtype)
out = meta_model(torch.empty(3, 4, device="meta"))
print("meta forward:", out.shape, out.device.type)

m = nn.Linear(2, 3, device="meta")
print("device kwarg:", m.weight.device.type, tuple(m.weight.shape))
x = torch.randn(10, 10, device="meta")
print("meta ops:", (x @ x.T).shape, x.sum().shape, (x @ x.T).is_meta)

# assign=True keeps the checkpoint's tensors instead of copying into meta storage
meta_model.load_state_dict(state_dict, assign=True)
print("assigned device:", meta_model.fc1.weight.device.type, meta_model.fc1.weight.is_meta)
print(
    "is a Parameter:",
    isinstance(meta_model.fc1.weight, nn.Parameter),
    meta_model.fc1.weight.requires_grad,
)
print("same values:", torch.equal(meta_model.fc2.weight, source.fc2.weight))
meta_model.eval()
source.eval()
inp = torch.linspace(-2, 2, 12).reshape(3, 4)
print("forward matches:", torch.allclose(meta_model(inp), source(inp)))

# to_empty: materialize uninitialized storage, then initialize
with torch.device("meta"):
    lazy = nn.Linear(3, 2)
lazy.to_empty(device="cpu")
print("to_empty:", lazy.weight.device.type, lazy.weight.is_meta, tuple(lazy.weight.shape))
with torch.no_grad():
    lazy.weight.fill_(0.5)
    lazy.bias.zero_()
print("initialized:", lazy(torch.ones(1, 3)).tolist())
lazy.reset_parameters()
print("reset_parameters shape:", tuple(lazy.weight.shape))

# swap_tensors exchanges the two tensor objects' contents in place
t1 = torch.tensor([1.0, 2.0])
t2 = torch.tensor([[3.0, 4.0, 5.0]])
ref = t1
torch.utils.swap_tensors(t1, t2)
print("swap_tensors:", t1.tolist(), t2.tolist(), ref is t1, ref.shape)

# a plain load_state_dict copies in place (the parameter objects stay the same)
target = MLP()
before = target.fc1.weight
result = target.load_state_dict(state_dict)
print("copy load:", torch.equal(target.fc1.weight, source.fc1.weight))
print("result:", result.missing_keys, result.unexpected_keys)
print("buffers:", sorted(n for n, _ in target.named_buffers()))
print(
    "num_batches_tracked:",
    target.bn.num_batches_tracked.item(),
    target.bn.num_batches_tracked.dtype,
)
