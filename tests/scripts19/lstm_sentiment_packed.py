# Sentiment classification with an LSTM over variable-length reviews (the common
# "sentiment analysis with packed sequences" tutorial): a vocabulary built with Counter,
# numericalized and padded batches (pad_sequence with batch_first, padding_value=PAD),
# Embedding(padding_idx=...), a 2-layer bidirectional LSTM over pack_padded_sequence
# (enforce_sorted=False), the final forward/backward hidden states concatenated,
# dropout, BCEWithLogitsLoss, and binary accuracy with torch.round(torch.sigmoid(...)).
from collections import Counter

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

reviews = [
    ("a great movie with great acting", 1),
    ("terrible plot and bad acting", 0),
    ("i loved it", 1),
    ("boring", 0),
    ("the best film of the year truly great", 1),
    ("bad bad bad", 0),
    ("not great not terrible", 0),
    ("wonderful and moving", 1),
]
counter = Counter(w for text, _ in reviews for w in text.split())
itos = ["<pad>", "<unk>"] + [w for w, _ in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]
stoi = {w: i for i, w in enumerate(itos)}
PAD_IDX = stoi["<pad>"]
print("vocab:", len(itos), "most common:", counter.most_common(2))


def numericalize(text):
    return torch.tensor([stoi.get(w, stoi["<unk>"]) for w in text.split()], dtype=torch.long)


seqs = [numericalize(t) for t, _ in reviews]
lengths = torch.tensor([len(s) for s in seqs])
text = pad_sequence(seqs, batch_first=True, padding_value=PAD_IDX)
labels = torch.tensor([float(l) for _, l in reviews])
print("padded:", list(text.shape), "lengths:", lengths.tolist())


class RNN(nn.Module):
    def __init__(
        self,
        vocab_size,
        embedding_dim,
        hidden_dim,
        output_dim,
        n_layers,
        bidirectional,
        dropout,
        pad_idx,
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
        self.rnn = nn.LSTM(
            embedding_dim,
            hidden_dim,
            num_layers=n_layers,
            bidirectional=bidirectional,
            dropout=dropout,
            batch_first=True,
        )
        self.fc = nn.Linear(hidden_dim * 2, output_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, text, text_lengths):
        embedded = self.dropout(self.embedding(text))
        packed_embedded = pack_padded_sequence(
            embedded, text_lengths, batch_first=True, enforce_sorted=False
        )
        packed_output, (hidden, cell) = self.rnn(packed_embedded)
        output, output_lengths = pad_packed_sequence(packed_output, batch_first=True)
        hidden = self.dropout(torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1))
        return self.fc(hidden), output, output_lengths


model = RNN(len(itos), 6, 5, 1, 2, True, 0.5, PAD_IDX)
with torch.no_grad():
    for i, (_name, p) in enumerate(model.named_parameters()):
        p.copy_(
            torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.43 + i).reshape(p.shape)
            * 0.3
        )
    model.embedding.weight[PAD_IDX].zero_()
print("trainable parameters:", sum(p.numel() for p in model.parameters() if p.requires_grad))


def binary_accuracy(preds, y):
    rounded_preds = torch.round(torch.sigmoid(preds))
    correct = (rounded_preds == y).float()
    return correct.sum() / len(correct)


optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
criterion = nn.BCEWithLogitsLoss()
model.dropout.p = 0.0  # deterministic training (dropout draws differ between libraries)
model.rnn.dropout = 0.0
for epoch in range(10):
    model.train()
    optimizer.zero_grad()
    predictions, _, _ = model(text, lengths)
    predictions = predictions.squeeze(1)
    loss = criterion(predictions, labels)
    acc = binary_accuracy(predictions, labels)
    loss.backward()
    optimizer.step()
    if epoch % 3 == 0:
        print(f"epoch {epoch}: loss {loss.item():.5f} acc {acc.item():.3f}")
model.eval()
with torch.no_grad():
    predictions, output, output_lengths = model(text, lengths)
print("output:", list(output.shape), output_lengths.tolist())
print("padding positions are zero:", bool((output[3, 1:] == 0).all()))
print("pad row of embedding grad:", model.embedding.weight.grad[PAD_IDX].abs().sum().item())


def predict_sentiment(model, sentence):
    model.eval()
    tensor = numericalize(sentence).unsqueeze(0)
    length_tensor = torch.LongTensor([tensor.shape[1]])
    prediction = torch.sigmoid(model(tensor, length_tensor)[0])
    return prediction.item()


for s in ["great acting", "bad plot", "unknown words here"]:
    print("predict:", s, round(predict_sentiment(model, s), 5))
