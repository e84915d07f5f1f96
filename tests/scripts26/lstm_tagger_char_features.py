# "Sequence Models and Long Short-Term Memory Networks": the LSTMTagger on the tutorial's
# two training sentences (prepare_sequence, tag_to_ix), the scores before and after
# training with NLLLoss + SGD(lr=0.1); then the exercise "augmenting the LSTM
# part-of-speech tagger with character-level features": a character LSTM whose final
# hidden state is concatenated to each word embedding.
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


def fill(model, scale=0.3):
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            k = torch.arange(p.numel(), dtype=torch.float32)
            p.copy_(torch.sin(k * 0.83 + i * 0.7).view_as(p) * scale)


def prepare_sequence(seq, to_ix):
    idxs = [to_ix[w] for w in seq]
    return torch.tensor(idxs, dtype=torch.long)


training_data = [
    ("The dog ate the apple".split(), ["DET", "NN", "V", "DET", "NN"]),
    ("Everybody read that book".split(), ["NN", "V", "DET", "NN"]),
]
word_to_ix = {}
for sent, _tags in training_data:
    for word in sent:
        if word not in word_to_ix:
            word_to_ix[word] = len(word_to_ix)
print("word_to_ix:", word_to_ix)
tag_to_ix = {"DET": 0, "NN": 1, "V": 2}
EMBEDDING_DIM = 6
HIDDEN_DIM = 6


class LSTMTagger(nn.Module):
    def __init__(self, embedding_dim, hidden_dim, vocab_size, tagset_size):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.word_embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim)
        self.hidden2tag = nn.Linear(hidden_dim, tagset_size)

    def forward(self, sentence):
        embeds = self.word_embeddings(sentence)
        lstm_out, _ = self.lstm(embeds.view(len(sentence), 1, -1))
        tag_space = self.hidden2tag(lstm_out.view(len(sentence), -1))
        tag_scores = F.log_softmax(tag_space, dim=1)
        return tag_scores


model = LSTMTagger(EMBEDDING_DIM, HIDDEN_DIM, len(word_to_ix), len(tag_to_ix))
fill(model)
loss_function = nn.NLLLoss()
optimizer = optim.SGD(model.parameters(), lr=0.1)
with torch.no_grad():
    inputs = prepare_sequence(training_data[0][0], word_to_ix)
    print("scores before:", model(inputs))
for _epoch in range(60):
    for sentence, tags in training_data:
        model.zero_grad()
        sentence_in = prepare_sequence(sentence, word_to_ix)
        targets = prepare_sequence(tags, tag_to_ix)
        tag_scores = model(sentence_in)
        loss = loss_function(tag_scores, targets)
        loss.backward()
        optimizer.step()
with torch.no_grad():
    tag_scores = model(prepare_sequence(training_data[0][0], word_to_ix))
    print("scores after:", tag_scores)
    print("predicted:", tag_scores.argmax(dim=1).tolist())

chars = sorted({c for sent, _ in training_data for w in sent for c in w})
char_to_ix = {c: i for i, c in enumerate(chars)}


class CharLSTMTagger(nn.Module):
    def __init__(
        self, embedding_dim, char_dim, char_hidden, hidden_dim, vocab_size, n_chars, tagset_size
    ):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.char_embeddings = nn.Embedding(n_chars, char_dim)
        self.char_lstm = nn.LSTM(char_dim, char_hidden)
        self.lstm = nn.LSTM(embedding_dim + char_hidden, hidden_dim)
        self.hidden2tag = nn.Linear(hidden_dim, tagset_size)

    def forward(self, sentence, words):
        char_reprs = []
        for w in words:
            c = self.char_embeddings(prepare_sequence(w, char_to_ix)).view(len(w), 1, -1)
            _, (h_n, _) = self.char_lstm(c)
            char_reprs.append(h_n.view(-1))
        chars = torch.stack(char_reprs)
        embeds = torch.cat([self.word_embeddings(sentence), chars], dim=1)
        out, _ = self.lstm(embeds.view(len(sentence), 1, -1))
        return F.log_softmax(self.hidden2tag(out.view(len(sentence), -1)), dim=1)


cmodel = CharLSTMTagger(5, 3, 3, 6, len(word_to_ix), len(char_to_ix), len(tag_to_ix))
fill(cmodel, 0.25)
opt = optim.SGD(cmodel.parameters(), lr=0.1)
for epoch in range(15):
    total = 0.0
    for sentence, tags in training_data:
        cmodel.zero_grad()
        scores = cmodel(prepare_sequence(sentence, word_to_ix), sentence)
        loss = loss_function(scores, prepare_sequence(tags, tag_to_ix))
        loss.backward()
        opt.step()
        total += loss.item()
    if epoch % 5 == 4:
        print("char epoch", epoch, "loss:", round(total, 5))
with torch.no_grad():
    print(
        "char scores:",
        cmodel(prepare_sequence(training_data[1][0], word_to_ix), training_data[1][0]),
    )
