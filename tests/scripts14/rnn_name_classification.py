# "NLP from scratch: classifying names with a character-level RNN": one-hot letter
# tensors, the tutorial's hand-written RNN cell, and an nn.LSTM / nn.GRU classifier.
import string

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
all_letters = string.ascii_letters + " .,;'"
n_letters = len(all_letters)
names = {
    "English": ["Smith", "Jones", "Taylor", "Brown", "Wilson"],
    "French": ["Dubois", "Moreau", "Laurent", "Lefebvre", "Girard"],
    "Japanese": ["Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe"],
}
all_categories = list(names)
n_categories = len(all_categories)


def letterToIndex(letter):
    return all_letters.find(letter)


def letterToTensor(letter):
    tensor = torch.zeros(1, n_letters)
    tensor[0][letterToIndex(letter)] = 1
    return tensor


def lineToTensor(line):
    tensor = torch.zeros(len(line), 1, n_letters)
    for li, letter in enumerate(line):
        tensor[li][0][letterToIndex(letter)] = 1
    return tensor


print("letterToTensor J:", letterToTensor("J").nonzero().tolist())
print("lineToTensor Jones:", lineToTensor("Jones").size())


def deterministic_init(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(
                torch.from_numpy(rng.uniform(-0.2, 0.2, size=tuple(p.shape)).astype(np.float32))
            )


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size, hidden_size)
        self.h2h = nn.Linear(hidden_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden):
        hidden = F.tanh(self.i2h(input) + self.h2h(hidden))
        output = self.h2o(hidden)
        output = self.softmax(output)
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


n_hidden = 32
rnn = RNN(n_letters, n_hidden, n_categories)
deterministic_init(rnn, 0)
input = lineToTensor("Albert")
hidden = torch.zeros(1, n_hidden)
output, next_hidden = rnn(input[0], hidden)
print("first output:", output.detach().numpy().round(5).tolist())


def categoryFromOutput(output):
    top_n, top_i = output.topk(1)
    category_i = top_i[0].item()
    return all_categories[category_i], category_i


print("category:", categoryFromOutput(output))

criterion = nn.NLLLoss()
learning_rate = 0.005
pairs = [(c, n) for c in all_categories for n in names[c]]


def train(category_tensor, line_tensor):
    hidden = rnn.initHidden()
    rnn.zero_grad()
    for i in range(line_tensor.size()[0]):
        output, hidden = rnn(line_tensor[i], hidden)
    loss = criterion(output, category_tensor)
    loss.backward()
    for p in rnn.parameters():
        p.data.add_(p.grad.data, alpha=-learning_rate)
    return output, loss.item()


for it in range(1, 41):
    category, line = pairs[(it * 7) % len(pairs)]
    category_tensor = torch.tensor([all_categories.index(category)], dtype=torch.long)
    output, loss = train(category_tensor, lineToTensor(line))
    if it % 10 == 0:
        guess, _ = categoryFromOutput(output)
        print(f"{it} loss {loss:.4f} {line} / {guess}")


# the same task with nn.LSTM and nn.GRU over padded batches
class RecurrentClassifier(nn.Module):
    def __init__(self, cell, hidden_size=24, num_layers=2, bidirectional=True):
        super().__init__()
        self.rnn = cell(
            n_letters,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
        )
        self.fc = nn.Linear(hidden_size * (2 if bidirectional else 1), n_categories)

    def forward(self, x, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(
            x, lengths, batch_first=True, enforce_sorted=False
        )
        out, _ = self.rnn(packed)
        out, out_lengths = nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
        last = out[torch.arange(out.size(0)), out_lengths - 1]
        return self.fc(last)


lines = [n for c in all_categories for n in names[c]]
targets = torch.tensor([all_categories.index(c) for c in all_categories for _ in names[c]])
seqs = [lineToTensor(n).squeeze(1) for n in lines]
lengths = torch.tensor([len(n) for n in lines])
batch = nn.utils.rnn.pad_sequence(seqs, batch_first=True)
print("padded batch:", list(batch.shape), lengths.tolist())

for cell in (nn.LSTM, nn.GRU, nn.RNN):
    model = RecurrentClassifier(cell)
    print(
        f"{cell.__name__} params:",
        [(k, list(v.shape)) for k, v in model.rnn.state_dict().items()][:5],
    )
    deterministic_init(model, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for step in range(20):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(batch, lengths), targets)
        loss.backward()
        optimizer.step()
        if step % 10 == 9:
            print(f"{cell.__name__} step {step + 1} loss {loss.item():.4f}")
    acc = (model(batch, lengths).argmax(1) == targets).float().mean().item()
    print(f"{cell.__name__} train accuracy {acc:.3f}")

# a single LSTM / GRU cell stepped by hand, with initial states
lstm_cell = nn.LSTMCell(n_letters, 8)
gru_cell = nn.GRUCell(n_letters, 8)
deterministic_init(lstm_cell, 2)
deterministic_init(gru_cell, 3)
h, c = torch.zeros(1, 8), torch.ones(1, 8) * 0.1
g = torch.zeros(1, 8)
for t in lineToTensor("Watanabe"):
    h, c = lstm_cell(t, (h, c))
    g = gru_cell(t, g)
print("LSTMCell h:", h.detach().numpy().round(5).tolist())
print("GRUCell h:", g.detach().numpy().round(5).tolist())
lstm = nn.LSTM(n_letters, 8, num_layers=1)
deterministic_init(lstm, 4)
out, (hn, cn) = lstm(lineToTensor("Sato"), (torch.zeros(1, 1, 8), torch.zeros(1, 1, 8)))
print("LSTM shapes:", list(out.shape), list(hn.shape), list(cn.shape))
print("LSTM hn:", hn.detach().numpy().round(5).tolist())
