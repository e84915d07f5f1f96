# pytorch/examples "word_language_model": RNNModel (Embedding, nn.LSTM, tied decoder
# weights, init_weights with uniform_ / zeros_), batchify, get_batch with bptt,
# repackage_hidden, training with clip_grad_norm_ and the manual update
# p.data.add_(p.grad, alpha=-lr), evaluate() with perplexity math.exp(loss), lr annealing,
# and generate.py's sampling: output.squeeze().div(temperature).exp() and torch.multinomial.
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

rng = np.random.default_rng(14)
words = "the cat sat on the mat and the dog sat on the log while the bird sang".split()
vocab = sorted(set(words))
word2idx = {w: i for i, w in enumerate(vocab)}
corpus = [word2idx[w] for w in (words * 6)]
train_data_ids = torch.tensor(corpus[: len(corpus) * 3 // 4], dtype=torch.long)
val_data_ids = torch.tensor(corpus[len(corpus) * 3 // 4 :], dtype=torch.long)
device = torch.device("cpu")


class RNNModel(nn.Module):
    """Container module with an encoder, a recurrent module, and a decoder."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        if rnn_type in ["LSTM", "GRU"]:
            self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            if nhid != ninp:
                raise ValueError("When using the tied flag, nhid must be equal to emsize")
            self.decoder.weight = self.encoder.weight
        self.init_weights()
        self.rnn_type = rnn_type
        self.nhid = nhid
        self.nlayers = nlayers

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        if self.rnn_type == "LSTM":
            return (
                weight.new_zeros(self.nlayers, bsz, self.nhid),
                weight.new_zeros(self.nlayers, bsz, self.nhid),
            )
        else:
            return weight.new_zeros(self.nlayers, bsz, self.nhid)


def batchify(data, bsz):
    # Work out how cleanly we can divide the dataset into bsz parts.
    nbatch = data.size(0) // bsz
    # Trim off any extra elements that wouldn't cleanly fit (remainders).
    data = data.narrow(0, 0, nbatch * bsz)
    # Evenly divide the data across the bsz batches.
    data = data.view(bsz, -1).t().contiguous()
    return data.to(device)


eval_batch_size = 2
train_data = batchify(train_data_ids, 4)
val_data = batchify(val_data_ids, eval_batch_size)
print("batchified:", list(train_data.shape), list(val_data.shape), train_data[0].tolist())
ntokens = len(vocab)
model = RNNModel("LSTM", ntokens, 16, 16, 2, dropout=0.0, tie_weights=True).to(device)
with torch.no_grad():  # the same start on both sides (the example draws these)
    for p in model.parameters():
        p.copy_(torch.from_numpy(rng.uniform(-0.1, 0.1, tuple(p.shape)).astype(np.float32)))
print("tied:", model.decoder.weight is model.encoder.weight)
print("parameters:", sum(p.numel() for p in model.parameters()))
criterion = nn.NLLLoss()
bptt = 5


def repackage_hidden(h):
    """Wraps hidden states in new Tensors, to detach them from their history."""
    if isinstance(h, torch.Tensor):
        return h.detach()
    else:
        return tuple(repackage_hidden(v) for v in h)


def get_batch(source, i):
    seq_len = min(bptt, len(source) - 1 - i)
    data = source[i : i + seq_len]
    target = source[i + 1 : i + 1 + seq_len].view(-1)
    return data, target


def evaluate(data_source):
    # Turn on evaluation mode which disables dropout.
    model.eval()
    total_loss = 0.0
    hidden = model.init_hidden(eval_batch_size)
    with torch.no_grad():
        for i in range(0, data_source.size(0) - 1, bptt):
            data, targets = get_batch(data_source, i)
            output, hidden = model(data, hidden)
            hidden = repackage_hidden(hidden)
            total_loss += len(data) * criterion(output, targets).item()
    return total_loss / (len(data_source) - 1)


lr = 5.0
clip = 0.25


def train(epoch):
    model.train()
    total_loss = 0.0
    hidden = model.init_hidden(4)
    for batch, i in enumerate(range(0, train_data.size(0) - 1, bptt)):  # noqa: B007
        data, targets = get_batch(train_data, i)
        # Starting each batch, we detach the hidden state from how it was previously produced.
        hidden = repackage_hidden(hidden)
        model.zero_grad()
        output, hidden = model(data, hidden)
        loss = criterion(output, targets)
        loss.backward()

        # `clip_grad_norm` helps prevent the exploding gradient problem in RNNs / LSTMs.
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)

        total_loss += loss.item()
    cur_loss = total_loss / (batch + 1)
    print(
        f"| epoch {epoch:3d} | lr {lr:02.2f} | loss {cur_loss:5.2f} | ppl {math.exp(cur_loss):8.2f}"
    )


best_val_loss = None
for epoch in range(1, 4):
    train(epoch)
    val_loss = evaluate(val_data)
    print(
        f"| end of epoch {epoch:3d} | valid loss {val_loss:5.2f} | "
        f"valid ppl {math.exp(val_loss):8.2f}"
    )
    if not best_val_loss or val_loss < best_val_loss:
        best_val_loss = val_loss
    else:
        # Anneal the learning rate if no improvement has been seen in the validation dataset.
        lr /= 4.0
print("final lr:", lr, "best val loss:", round(best_val_loss, 5))

# generate.py
torch.manual_seed(1111)
model.eval()
hidden = model.init_hidden(1)
input = torch.tensor([[word2idx["the"]]], dtype=torch.long).to(device)
temperature = 1.0
generated = []
with torch.no_grad():  # no tracking history
    for i in range(12):  # noqa: B007
        output, hidden = model(input, hidden)
        word_weights = output.squeeze().div(temperature).exp().cpu()
        word_idx = torch.multinomial(word_weights, 1)[0]
        input.fill_(word_idx)
        generated.append(vocab[word_idx])
print("rng generated words:", len(generated), all(w in vocab for w in generated))
hidden = model.init_hidden(1)
with torch.no_grad():
    out, hidden = model(torch.tensor([[word2idx["the"]], [word2idx["cat"]]]), hidden)
print("next-word probs after 'the cat':", out[-1].exp().topk(3).indices.tolist())
print("hidden shapes:", [list(h.shape) for h in hidden])
