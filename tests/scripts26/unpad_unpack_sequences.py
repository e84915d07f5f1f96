# The inverse helpers of torch.nn.utils.rnn as their docs show them: unpad_sequence
# (batch_first and not) recovering the list given to pad_sequence, unpack_sequence
# recovering pack_sequence's inputs, pad_sequence with padding_side="left", and a
# bidirectional LSTM's final states gathered per sequence from the padded output
# (forward direction at length - 1, backward direction at 0) equal to h_n.
import torch
import torch.nn as nn
from torch.nn.utils.rnn import (
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
    unpack_sequence,
    unpad_sequence,
)

a = torch.tensor([1.0, 2.0, 3.0])
b = torch.tensor([4.0, 5.0])
c = torch.tensor([6.0])
sequences = [a, b, c]
padded = pad_sequence(sequences)
lengths = torch.as_tensor([v.size(0) for v in sequences])
print("padded:", padded.tolist())
unpadded = unpad_sequence(padded, lengths)
print("unpadded:", [t.tolist() for t in unpadded])
padded_bf = pad_sequence(sequences, batch_first=True, padding_value=-1.0)
print("batch_first:", padded_bf.tolist())
print("unpadded bf:", [t.tolist() for t in unpad_sequence(padded_bf, lengths, batch_first=True)])
left = pad_sequence(sequences, batch_first=True, padding_side="left")
print("left padded:", left.tolist())

packed = pack_sequence([a, b, c])
print("packed data:", packed.data.tolist(), packed.batch_sizes.tolist())
print("unpacked:", [t.tolist() for t in unpack_sequence(packed)])
packed_unsorted = pack_sequence([c, a, b], enforce_sorted=False)
print("unpacked unsorted:", [t.tolist() for t in unpack_sequence(packed_unsorted)])

seqs = [torch.linspace(-1, 1, n * 2).view(n, 2) for n in (4, 2, 3)]
lens = torch.tensor([4, 2, 3])
lstm = nn.LSTM(2, 3, batch_first=True, bidirectional=True)
with torch.no_grad():
    for i, p in enumerate(lstm.parameters()):
        p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.6 + i).view_as(p) * 0.5)
x = pad_sequence(seqs, batch_first=True)
out, (h_n, c_n) = lstm(pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False))
out, out_lens = pad_packed_sequence(out, batch_first=True)
forward_last = out[torch.arange(3), lens - 1, :3]
backward_first = out[:, 0, 3:]
print("forward == h_n[0]:", torch.allclose(forward_last, h_n[0], atol=1e-6))
print("backward == h_n[1]:", torch.allclose(backward_first, h_n[1], atol=1e-6))
print("h_n:", h_n.detach())
