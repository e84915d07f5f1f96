# Variable-length sequences with torch.nn.utils.rnn (pad_sequence, pack_padded_sequence,
# pack_sequence, pad_packed_sequence, enforce_sorted) through nn.LSTM / nn.GRU, as in the
# sequence-model and chatbot tutorials: the last valid hidden state per sequence, padded
# outputs, and a masked loss.
import torch
import torch.nn as nn
from torch.nn.utils.rnn import (
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
    unpad_sequence,
)


def init(module):
    with torch.no_grad():
        for i, p in enumerate(module.parameters()):
            p.copy_(
                torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.41 + i).reshape(p.shape)
                * 0.3
            )


a = torch.tensor([1, 2, 3])
b = torch.tensor([4, 5])
c = torch.tensor([6])
print("pad_sequence:", pad_sequence([a, b, c], batch_first=True).tolist())
print("padding_value:", pad_sequence([a, b, c], padding_value=-1).tolist())
print("padding_side left:", pad_sequence([a, b, c], batch_first=True, padding_side="left").tolist())
packed = pack_sequence([a, b, c])
print("pack_sequence data:", packed.data.tolist(), "batch_sizes:", packed.batch_sizes.tolist())
unsorted = pack_sequence([b, a, c], enforce_sorted=False)
print(
    "enforce_sorted=False:",
    unsorted.data.tolist(),
    unsorted.sorted_indices.tolist(),
    unsorted.unsorted_indices.tolist(),
)
padded, lengths = pad_packed_sequence(unsorted, batch_first=True)
print("pad_packed_sequence:", padded.tolist(), lengths.tolist())
print("unpad_sequence:", [t.tolist() for t in unpad_sequence(padded, lengths, batch_first=True)])

vocab, emb_dim, hidden = 10, 4, 5
seqs = [
    torch.tensor([1, 4, 2, 7]),
    torch.tensor([3, 3]),
    torch.tensor([9, 8, 6]),
    torch.tensor([5]),
]
lengths = torch.tensor([len(s) for s in seqs])
embedding = nn.Embedding(vocab, emb_dim, padding_idx=0)
lstm = nn.LSTM(emb_dim, hidden, batch_first=True, bidirectional=True)
gru = nn.GRU(emb_dim, hidden, num_layers=2, batch_first=True)
for m in (embedding, lstm, gru):
    init(m)
padded = pad_sequence(seqs, batch_first=True)
embedded = embedding(padded)
packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
print("packed batch_sizes:", packed.batch_sizes.tolist())
out_packed, (h_n, c_n) = lstm(packed)
out, out_lengths = pad_packed_sequence(out_packed, batch_first=True)
print("lstm out:", list(out.shape), out_lengths.tolist())
print("padding positions zero:", bool((out[1, 2:] == 0).all()), bool((out[3, 1:] == 0).all()))
print("h_n:", list(h_n.shape), h_n[0].detach().numpy().round(5).tolist())
last_fwd = out[torch.arange(4), lengths - 1, :hidden]
print("h_n fwd = last valid output:", torch.allclose(last_fwd, h_n[0], atol=1e-6))
print("h_n bwd = first output:", torch.allclose(out[:, 0, hidden:], h_n[1], atol=1e-6))
g_out, g_h = gru(pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False))
g_pad, _ = pad_packed_sequence(g_out, batch_first=True, total_length=6)
print("gru padded to total_length:", list(g_pad.shape), g_h.detach().numpy().round(5)[1].tolist())

# a masked loss over the padded positions
targets = pad_sequence(
    [torch.tensor([1, 0, 2, 1]), torch.tensor([2, 2]), torch.tensor([0, 1, 1]), torch.tensor([2])],
    batch_first=True,
    padding_value=-100,
)
head = nn.Linear(2 * hidden, 3)
init(head)
logits = head(out)
loss = nn.functional.cross_entropy(logits.reshape(-1, 3), targets.reshape(-1), ignore_index=-100)
loss.backward()
print("masked loss:", round(loss.item(), 6))
print(
    "grad reaches embedding:",
    round(embedding.weight.grad.abs().sum().item(), 5),
    embedding.weight.grad[0].tolist(),
)
mask = torch.arange(padded.size(1))[None, :] < lengths[:, None]
print("mask:", mask.int().tolist())
