# The rewritten "NLP From Scratch: Classifying Names with a Character-Level RNN": the
# unicode_to_ascii / letter_to_index helpers with an "_" for unknown characters, one-hot
# line_to_tensor of shape (len, 1, n_letters), a NamesDataset over embedded names, a
# CharRNN on nn.RNN(n_letters, n_hidden) + Linear + LogSoftmax using the last hidden
# state, label_from_output via topk, mini-batches built by summing per-name losses, and
# a confusion matrix.
import string
import unicodedata

import numpy as np
import torch
import torch.nn as nn

allowed_characters = string.ascii_letters + " .,;'" + "_"
n_letters = len(allowed_characters)


def unicodeToAscii(s):
    return "".join(
        c
        for c in unicodedata.normalize("NFD", s)
        if unicodedata.category(c) != "Mn" and c in allowed_characters
    )


def letterToIndex(letter):
    if letter not in allowed_characters:
        return allowed_characters.find("_")
    return allowed_characters.find(letter)


def lineToTensor(line):
    tensor = torch.zeros(len(line), 1, n_letters)
    for li, letter in enumerate(line):
        tensor[li][0][letterToIndex(letter)] = 1
    return tensor


print("ascii:", unicodeToAscii("Ślusàrski"))
print("index:", letterToIndex("a"), letterToIndex("#"))
print("tensor shape:", lineToTensor("Albert").shape)

names = {
    "English": ["Smith", "Brown", "Taylor", "Wilson", "Walker"],
    "French": ["Bernard", "Moreau", "Laurent", "Lefèvre", "Dubois"],
    "Japanese": ["Satō", "Suzuki", "Takahashi", "Tanaka", "Watanabe"],
}
labels_uniq = sorted(names)
data = [
    (
        lineToTensor(unicodeToAscii(n)),
        torch.tensor([labels_uniq.index(lab)], dtype=torch.long),
        lab,
        n,
    )
    for lab in labels_uniq
    for n in names[lab]
]
print("examples:", len(data), data[7][2], data[7][3])


class CharRNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, line_tensor):
        rnn_out, hidden = self.rnn(line_tensor)
        output = self.h2o(hidden[0])
        output = self.softmax(output)
        return output


n_hidden = 16
rnn = CharRNN(n_letters, n_hidden, len(labels_uniq))
print(rnn)
with torch.no_grad():
    for i, p in enumerate(rnn.parameters()):
        k = torch.arange(p.numel(), dtype=torch.float32)
        p.copy_(torch.sin(k * 0.29 + i * 0.9).view_as(p) * 0.2)


def label_from_output(output, output_labels):
    top_n, top_i = output.topk(1)
    label_i = top_i[0].item()
    return output_labels[label_i], label_i


out = rnn(lineToTensor("Albert"))
print("output:", out)
print("label:", label_from_output(out, labels_uniq))

criterion = nn.NLLLoss()
optimizer = torch.optim.SGD(rnn.parameters(), lr=0.15)
rng = np.random.default_rng(0)
losses = []
for _epoch in range(12):
    order = rng.permutation(len(data))
    batches = np.array_split(order, 3)
    rnn.train()
    current = 0.0
    for idx in batches:
        rnn.zero_grad()
        batch_loss = 0
        for i in idx:
            text_tensor, label_tensor, _, _ = data[i]
            output = rnn(text_tensor)
            batch_loss = batch_loss + criterion(output, label_tensor)
        batch_loss.backward()
        nn.utils.clip_grad_norm_(rnn.parameters(), 3)
        optimizer.step()
        optimizer.zero_grad()
        current += batch_loss.item() / len(idx)
    losses.append(current / len(batches))
print("losses:", [round(l, 4) for l in losses])

confusion = torch.zeros(len(labels_uniq), len(labels_uniq))
rnn.eval()
with torch.no_grad():
    for text_tensor, label_tensor, _label, _ in data:
        guess, guess_i = label_from_output(rnn(text_tensor), labels_uniq)
        confusion[label_tensor.item()][guess_i] += 1
confusion = confusion / confusion.sum(1, keepdim=True)
print("confusion:", confusion)
