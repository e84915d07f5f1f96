# "NLP From Scratch: Generating Names with a Character-Level RNN": the category + input +
# hidden RNN with dropout, one-hot letter tensors, a few training steps with the
# tutorial's manual SGD update (p.data.add_(p.grad.data, alpha=-lr)), then sampling:
# greedy (topk) and random (torch.multinomial on the softmax of temperature-scaled logits).
import string

import numpy as np
import torch
import torch.nn as nn

rng = np.random.default_rng(3)
all_letters = string.ascii_letters + " .,;'-"
n_letters = len(all_letters) + 1  # Plus EOS marker
category_lines = {
    "English": ["Abbott", "Adams", "Baker", "Barker", "Clark"],
    "Italian": ["Abate", "Bianchi", "Conti", "Esposito", "Ricci"],
    "Russian": ["Abakov", "Ivanov", "Petrov", "Sokolov", "Volkov"],
}
all_categories = list(category_lines)
n_categories = len(all_categories)


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.hidden_size = hidden_size

        self.i2h = nn.Linear(n_categories + input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(n_categories + input_size + hidden_size, output_size)
        self.o2o = nn.Linear(hidden_size + output_size, output_size)
        self.dropout = nn.Dropout(0.1)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, category, input, hidden):
        input_combined = torch.cat((category, input, hidden), 1)
        hidden = self.i2h(input_combined)
        output = self.i2o(input_combined)
        output_combined = torch.cat((hidden, output), 1)
        output = self.o2o(output_combined)
        output = self.dropout(output)
        output = self.softmax(output)
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


# One-hot vector for category
def categoryTensor(category):
    li = all_categories.index(category)
    tensor = torch.zeros(1, n_categories)
    tensor[0][li] = 1
    return tensor


# One-hot matrix of first to last letters (not including EOS) for input
def inputTensor(line):
    tensor = torch.zeros(len(line), 1, n_letters)
    for li in range(len(line)):
        letter = line[li]
        tensor[li][0][all_letters.find(letter)] = 1
    return tensor


# ``LongTensor`` of second letter to end (EOS) for target
def targetTensor(line):
    letter_indexes = [all_letters.find(line[li]) for li in range(1, len(line))]
    letter_indexes.append(n_letters - 1)  # EOS
    return torch.LongTensor(letter_indexes)


criterion = nn.NLLLoss()
learning_rate = 0.05
rnn = RNN(n_letters, 32, n_letters)
with torch.no_grad():
    for p in rnn.parameters():
        p.copy_(torch.from_numpy(rng.uniform(-0.15, 0.15, tuple(p.shape)).astype(np.float32)))
rnn.eval()  # dropout off so that both runs agree (the tutorial trains with it on)


def train(category_tensor, input_line_tensor, target_line_tensor):
    target_line_tensor.unsqueeze_(-1)
    hidden = rnn.initHidden()

    rnn.zero_grad()

    loss = torch.Tensor([0])  # you can also just simply use ``loss = 0``

    for i in range(input_line_tensor.size(0)):
        output, hidden = rnn(category_tensor, input_line_tensor[i], hidden)
        l = criterion(output, target_line_tensor[i])  # noqa: E741
        loss += l

    loss.backward()

    for p in rnn.parameters():
        p.data.add_(p.grad.data, alpha=-learning_rate)

    return output, loss.item() / input_line_tensor.size(0)


print("sizes:", n_letters, list(inputTensor("Abe").shape), targetTensor("Abe").tolist())
total_loss = 0
for it in range(1, 31):
    category = all_categories[it % n_categories]
    line = category_lines[category][it % 5]
    output, loss = train(categoryTensor(category), inputTensor(line), targetTensor(line))
    total_loss += loss
    if it % 10 == 0:
        print("iter %d loss: %.4f" % (it, total_loss / 10))  # noqa: UP031
        total_loss = 0

max_length = 10


# Sample from a category and starting letter
def sample(category, start_letter="A"):
    with torch.no_grad():  # no need to track history in sampling
        category_tensor = categoryTensor(category)
        input = inputTensor(start_letter)
        hidden = rnn.initHidden()

        output_name = start_letter

        for i in range(max_length):  # noqa: B007
            output, hidden = rnn(category_tensor, input[0], hidden)
            topv, topi = output.topk(1)
            topi = topi[0][0]
            if topi == n_letters - 1:
                break
            else:
                letter = all_letters[topi]
                output_name += letter
            input = inputTensor(letter)

        return output_name


def samples(category, start_letters="ABC"):
    for start_letter in start_letters:
        print(f"greedy {category}: {sample(category, start_letter)}")


samples("Russian", "RUS")
samples("Italian", "ABI")


def sample_random(category, start_letter="A", temperature=0.8):
    with torch.no_grad():
        category_tensor = categoryTensor(category)
        input = inputTensor(start_letter)
        hidden = rnn.initHidden()
        output_name = start_letter
        for i in range(max_length):  # noqa: B007
            output, hidden = rnn(category_tensor, input[0], hidden)
            output_dist = output.data.view(-1).div(temperature).exp()
            top_i = torch.multinomial(output_dist, 1)[0]
            if top_i == n_letters - 1:
                break
            letter = all_letters[top_i]
            output_name += letter
            input = inputTensor(letter)
        return output_name


torch.manual_seed(0)
name = sample_random("English", "B")
print("rng random sample length:", len(name))
probs = torch.tensor([0.1, 0.0, 0.6, 0.3])
draws = torch.multinomial(probs, 4, replacement=True)
print("multinomial:", list(draws.shape), draws.dtype, bool((draws != 1).all()))
no_repl = torch.multinomial(probs, 3)
print("without replacement:", sorted(no_repl.tolist()))
