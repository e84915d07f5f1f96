# "Deep Learning with PyTorch" (the NLP tutorial's BoWClassifier): the Spanish / English
# sentences, word_to_ix built over train + test, make_bow_vector and make_target, a
# logistic-regression BoW classifier with log_softmax, the printed parameters, the "creo"
# column before and after training with NLLLoss + SGD(lr=0.1), and test log-probabilities.
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

data = [
    ("me gusta comer en la cafeteria".split(), "SPANISH"),
    ("Give it to me".split(), "ENGLISH"),
    ("No creo que sea una buena idea".split(), "SPANISH"),
    ("No it is not a good idea to get lost at sea".split(), "ENGLISH"),
]
test_data = [("Yo creo que si".split(), "SPANISH"), ("it is lost on me".split(), "ENGLISH")]

word_to_ix = {}
for sent, _ in data + test_data:
    for word in sent:
        if word not in word_to_ix:
            word_to_ix[word] = len(word_to_ix)
print("vocab:", len(word_to_ix), word_to_ix["creo"])
VOCAB_SIZE = len(word_to_ix)
NUM_LABELS = 2


class BoWClassifier(nn.Module):
    def __init__(self, num_labels, vocab_size):
        super().__init__()
        self.linear = nn.Linear(vocab_size, num_labels)

    def forward(self, bow_vec):
        return F.log_softmax(self.linear(bow_vec), dim=1)


def make_bow_vector(sentence, word_to_ix):
    vec = torch.zeros(len(word_to_ix))
    for word in sentence:
        vec[word_to_ix[word]] += 1
    return vec.view(1, -1)


def make_target(label, label_to_ix):
    return torch.LongTensor([label_to_ix[label]])


model = BoWClassifier(NUM_LABELS, VOCAB_SIZE)
with torch.no_grad():
    model.linear.weight.copy_(
        torch.cos(torch.arange(2 * VOCAB_SIZE, dtype=torch.float32)).view(2, -1) * 0.1
    )
    model.linear.bias.copy_(torch.tensor([0.05, -0.05]))
for name, param in model.named_parameters():
    print("param", name + ":", tuple(param.shape))
with torch.no_grad():
    sample = data[0]
    bow_vector = make_bow_vector(sample[0], word_to_ix)
    print("bow:", bow_vector)
    print("log_probs:", model(bow_vector))

label_to_ix = {"SPANISH": 0, "ENGLISH": 1}
with torch.no_grad():
    for instance, _label in test_data:
        print("before:", model(make_bow_vector(instance, word_to_ix)))
print("creo before:", next(model.parameters())[:, word_to_ix["creo"]])

loss_function = nn.NLLLoss()
optimizer = optim.SGD(model.parameters(), lr=0.1)
for _epoch in range(100):
    for instance, label in data:
        model.zero_grad()
        bow_vec = make_bow_vector(instance, word_to_ix)
        target = make_target(label, label_to_ix)
        log_probs = model(bow_vec)
        loss = loss_function(log_probs, target)
        loss.backward()
        optimizer.step()
with torch.no_grad():
    for instance, _label in test_data:
        print("after:", model(make_bow_vector(instance, word_to_ix)))
print("creo after:", next(model.parameters())[:, word_to_ix["creo"]])
print("LongTensor:", torch.LongTensor([3, 1]).dtype, torch.FloatTensor([1, 2]).dtype)
