# Variable-length batches the pre-enforce_sorted way (as older tutorials and many repos
# still do): sort lengths descending, reorder the batch, pack_padded_sequence with
# enforce_sorted=True, run a GRU, pad_packed_sequence with total_length, and undo the
# sort with the inverse permutation; checked against enforce_sorted=False and against
# running each sequence alone; plus the PackedSequence fields and pack_sequence.
import torch
import torch.nn as nn
from torch.nn.utils.rnn import (
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
)

seqs = [
    torch.linspace(-1, 1, 3 * 2).view(3, 2),
    torch.linspace(0, 2, 5 * 2).view(5, 2),
    torch.linspace(1, -1, 2 * 2).view(2, 2),
    torch.linspace(-2, 0, 4 * 2).view(4, 2),
]
lengths = torch.tensor([len(s) for s in seqs])
padded = pad_sequence(seqs, batch_first=True)
print("padded shape:", padded.shape)

gru = nn.GRU(2, 3, batch_first=True)
with torch.no_grad():
    for i, p in enumerate(gru.parameters()):
        p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.9 + i).view_as(p) * 0.5)

sorted_lengths, sort_idx = lengths.sort(descending=True)
print("sorted:", sorted_lengths.tolist(), sort_idx.tolist())
packed = pack_padded_sequence(
    padded[sort_idx], sorted_lengths, batch_first=True, enforce_sorted=True
)
print("batch_sizes:", packed.batch_sizes.tolist())
print("sorted_indices:", packed.sorted_indices, packed.unsorted_indices)
print("data shape:", packed.data.shape)
out_packed, h_n = gru(packed)
out, out_lengths = pad_packed_sequence(out_packed, batch_first=True, total_length=6)
print("out shape:", out.shape, out_lengths.tolist())
_, unsort_idx = sort_idx.sort()
out = out[unsort_idx]
h_n = h_n[:, unsort_idx]
print("h_n:", h_n)

packed2 = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
print("auto sorted_indices:", packed2.sorted_indices.tolist(), packed2.unsorted_indices.tolist())
out2, h2 = gru(packed2)
out2, _ = pad_packed_sequence(out2, batch_first=True, total_length=6)
print("same as manual:", torch.allclose(out, out2, atol=1e-6), torch.allclose(h_n, h2, atol=1e-6))
for i, s in enumerate(seqs):
    o, h = gru(s.unsqueeze(0))
    print(
        "alone",
        i,
        torch.allclose(h[0, 0], h_n[0, i], atol=1e-6),
        torch.allclose(o[0], out[i, : len(s)], atol=1e-6),
    )
print("padding zeros:", out[2, 2:].abs().sum().item())

try:
    pack_padded_sequence(padded, lengths, batch_first=True)
except RuntimeError as e:
    print("unsorted error:", "sorted in decreasing order" in str(e))
ps = pack_sequence(seqs, enforce_sorted=False)
print("pack_sequence batch_sizes:", ps.batch_sizes.tolist())
last = out[torch.arange(4), lengths - 1]
print("last outputs == h_n:", torch.allclose(last, h_n[0], atol=1e-6))
