# torch.nn.utils helpers of training loops: parameters_to_vector / vector_to_parameters
# (flat weights for evolution strategies or line searches), clip_grad_norm_ with norm
# types 2 / 1 / inf and its returned total norm, error_if_nonfinite, clip_grad_value_,
# get_total_norm / clip_grads_with_norm_, and rnn utils: pad_sequence (batch_first,
# padding_side), unpad_sequence, pack_sequence (enforce_sorted=False), unpack_sequence.
import numpy as np
import torch
from torch import nn
from torch.nn.utils import (
    clip_grad_norm_,
    clip_grad_value_,
    parameters_to_vector,
    vector_to_parameters,
)
from torch.nn.utils.rnn import pack_sequence, pad_sequence, unpack_sequence, unpad_sequence

rng = np.random.default_rng(0)
model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
with torch.no_grad():
    for prm in model.parameters():
        prm.copy_(torch.from_numpy(rng.standard_normal(tuple(prm.shape)).astype(np.float32)))
vec = parameters_to_vector(model.parameters())
print("vector:", vec.shape, vec[:4])
vector_to_parameters(vec * 2, model.parameters())
print("back:", model[2].bias, torch.allclose(parameters_to_vector(model.parameters()), vec * 2))
x = torch.from_numpy(rng.standard_normal((5, 3)).astype(np.float32))


def fresh_grads():
    model.zero_grad()
    (model(x) ** 2).sum().backward()


fresh_grads()
grads = torch.cat([p.grad.flatten() for p in model.parameters()])
total = clip_grad_norm_(model.parameters(), max_norm=1.0)
print("total norm:", total, torch.allclose(total, grads.norm()))
print("clipped norm:", torch.cat([p.grad.flatten() for p in model.parameters()]).norm())
fresh_grads()
print("norm_type 1:", clip_grad_norm_(model.parameters(), 0.5, norm_type=1.0))
fresh_grads()
print(
    "norm_type inf:",
    clip_grad_norm_(model.parameters(), 0.5, norm_type=float("inf")),
    grads.abs().max(),
)
print("after inf clip max:", max(p.grad.abs().max().item() for p in model.parameters()))
fresh_grads()
print(
    "no clip needed:",
    clip_grad_norm_(model.parameters(), 1e6),
    torch.allclose(model[0].weight.grad.flatten(), grads[:12]),
)
model[0].weight.grad[0, 0] = float("nan")
try:
    clip_grad_norm_(model.parameters(), 1.0, error_if_nonfinite=True)
except RuntimeError as e:
    print("nonfinite:", type(e).__name__, "non-finite" in str(e))
fresh_grads()
clip_grad_value_(model.parameters(), clip_value=0.5)
print("clip value:", model[0].weight.grad.abs().max().item(), model[2].bias.grad)
fresh_grads()
gs = [p.grad for p in model.parameters()]
norm = nn.utils.get_total_norm(gs)
print("get_total_norm:", torch.allclose(norm, grads.norm()))
nn.utils.clip_grads_with_norm_(model.parameters(), 1.0, norm)
print("clip_grads_with_norm_:", torch.cat([p.grad.flatten() for p in model.parameters()]).norm())
seqs = [torch.tensor([1, 2, 3]), torch.tensor([4]), torch.tensor([5, 6])]
padded = pad_sequence(seqs, batch_first=True)
print("pad:", padded)
print("pad time-major:", pad_sequence(seqs).shape, pad_sequence(seqs, padding_value=-1)[:, 1])
print("pad left:", pad_sequence(seqs, batch_first=True, padding_side="left"))
lengths = torch.tensor([3, 1, 2])
print("unpad:", [t.tolist() for t in unpad_sequence(padded, lengths, batch_first=True)])
fseqs = [s.float().unsqueeze(-1) for s in seqs]
packed = pack_sequence(fseqs, enforce_sorted=False)
print(
    "packed:",
    packed.data.view(-1),
    packed.batch_sizes,
    packed.sorted_indices,
    packed.unsorted_indices,
)
print("unpack:", [t.view(-1).tolist() for t in unpack_sequence(packed)])
rnn = nn.GRU(1, 2, batch_first=True)
with torch.no_grad():
    for prm in rnn.parameters():
        prm.copy_(torch.from_numpy(rng.standard_normal(tuple(prm.shape)).astype(np.float32) * 0.5))
out, h = rnn(packed)
print("gru on packed:", h.squeeze(0))
