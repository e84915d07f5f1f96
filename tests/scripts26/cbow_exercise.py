# "Word Embeddings: Encoding Lexical Semantics", the CBOW exercise: the tutorial's raw_text
# about computational processes, a context of CONTEXT_SIZE=2 words on each side, the
# make_context_vector helper, a CBOW module (summed embeddings -> linear -> log_softmax)
# trained with NLLLoss and SGD; embeddings filled deterministically instead of randomly.
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

CONTEXT_SIZE = 2
EMBEDDING_DIM = 10
raw_text = """We are about to study the idea of a computational process.
Computational processes are abstract beings that inhabit computers.
As they evolve, processes manipulate other abstract things called data.
The evolution of a process is directed by a pattern of rules
called a program. People create programs to direct processes. In effect,
we conjure the spirits of the computer with our spells.""".split()

vocab = set(raw_text)
vocab_size = len(vocab)
word_to_ix = {word: i for i, word in enumerate(sorted(vocab))}
data = []
for i in range(CONTEXT_SIZE, len(raw_text) - CONTEXT_SIZE):
    context = [raw_text[i - j - 1] for j in range(CONTEXT_SIZE)] + [
        raw_text[i + j + 1] for j in range(CONTEXT_SIZE)
    ]
    target = raw_text[i]
    data.append((context, target))
print("vocab size:", vocab_size, "examples:", len(data))
print("first:", data[:2])


class CBOW(nn.Module):
    def __init__(self, vocab_size, embedding_dim):
        super().__init__()
        self.embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.linear = nn.Linear(embedding_dim, vocab_size)

    def forward(self, inputs):
        embeds = self.embeddings(inputs).sum(dim=0).view(1, -1)
        out = self.linear(embeds)
        return F.log_softmax(out, dim=1)


def make_context_vector(context, word_to_ix):
    idxs = [word_to_ix[w] for w in context]
    return torch.tensor(idxs, dtype=torch.long)


print("context vector:", make_context_vector(data[0][0], word_to_ix))
model = CBOW(vocab_size, EMBEDDING_DIM)
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        k = torch.arange(p.numel(), dtype=torch.float32)
        p.copy_(torch.sin(k * 0.61 + i * 1.3).view_as(p) * 0.3)
loss_function = nn.NLLLoss()
optimizer = optim.SGD(model.parameters(), lr=0.05)
losses = []
for _epoch in range(6):
    total_loss = 0
    for context, target in data:
        context_idxs = make_context_vector(context, word_to_ix)
        model.zero_grad()
        log_probs = model(context_idxs)
        loss = loss_function(log_probs, torch.tensor([word_to_ix[target]], dtype=torch.long))
        loss.backward()
        optimizer.step()
        total_loss += loss.item()
    losses.append(total_loss)
print("losses:", [round(l, 3) for l in losses])
print("decreasing:", all(a > b for a, b in zip(losses, losses[1:])))
with torch.no_grad():
    correct = sum(
        int(model(make_context_vector(c, word_to_ix)).argmax(dim=1).item() == word_to_ix[t])
        for c, t in data
    )
print("train accuracy:", correct, "/", len(data))
print("embedding of 'processes':", model.embeddings.weight[word_to_ix["processes"]])
