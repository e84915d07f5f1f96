# BERT-style masked language modelling as Hugging Face's DataCollatorForLanguageModeling
# and from-scratch BERT tutorials do it: 15% of non-special tokens chosen (probabilities
# drawn in NumPy and compared with torch.bernoulli-free thresholds), 80% [MASK], 10%
# random, 10% kept, labels -100 elsewhere; token + position + segment embeddings with
# LayerNorm; the extended attention mask (1 - mask) * finfo.min added to the scores; and
# CrossEntropyLoss ignoring -100.
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

PAD, CLS, SEP, MASK = 0, 1, 2, 3
vocab_size, hidden = 20, 8
rng = np.random.default_rng(0)
input_ids = torch.tensor(
    [[CLS, 5, 6, 7, 8, 9, 10, SEP, PAD, PAD], [CLS, 11, 12, 13, SEP, 14, 15, 16, 17, SEP]]
)
attention_mask = (input_ids != PAD).long()
token_type_ids = torch.tensor([[0] * 10, [0] * 5 + [1] * 5])
special = (input_ids == PAD) | (input_ids == CLS) | (input_ids == SEP)

labels = input_ids.clone()
probability_matrix = torch.from_numpy(rng.random(input_ids.shape)).float()
probability_matrix.masked_fill_(special, 1.0)
masked_indices = probability_matrix < 0.4
labels[~masked_indices] = -100
choice = torch.from_numpy(rng.random(input_ids.shape)).float()
indices_replaced = (choice < 0.8) & masked_indices
inputs = input_ids.clone()
inputs[indices_replaced] = MASK
indices_random = (choice >= 0.8) & (choice < 0.9) & masked_indices
random_words = torch.from_numpy(rng.integers(4, vocab_size, input_ids.shape)).long()
inputs[indices_random] = random_words[indices_random]
print(
    "masked count:",
    int(masked_indices.sum()),
    "replaced:",
    int(indices_replaced.sum()),
    "random:",
    int(indices_random.sum()),
)
print("labels:", labels)
print("inputs:", inputs)


class Embeddings(nn.Module):
    def __init__(self):
        super().__init__()
        self.word = nn.Embedding(vocab_size, hidden, padding_idx=PAD)
        self.position = nn.Embedding(16, hidden)
        self.token_type = nn.Embedding(2, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.register_buffer("position_ids", torch.arange(16).expand((1, -1)), persistent=False)

    def forward(self, ids, types):
        pos = self.position_ids[:, : ids.size(1)]
        return self.norm(self.word(ids) + self.position(pos) + self.token_type(types))


class TinyMLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = Embeddings()
        self.q, self.k, self.v = (nn.Linear(hidden, hidden) for _ in range(3))
        self.out = nn.Linear(hidden, vocab_size)

    def forward(self, ids, types, mask):
        h = self.emb(ids, types)
        ext = mask[:, None, None, :].to(h.dtype)
        ext = (1.0 - ext) * torch.finfo(h.dtype).min
        scores = self.q(h).unsqueeze(1) @ self.k(h).unsqueeze(1).transpose(-1, -2) / hidden**0.5
        probs = F.softmax(scores + ext, dim=-1)
        ctx = (probs @ self.v(h).unsqueeze(1)).squeeze(1)
        return self.out(h + ctx), probs


model = TinyMLM()
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.31 + i).view_as(p) * 0.3)
print("pad row zero grad-free:", model.emb.word.padding_idx)
opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
for step in range(5):
    logits, probs = model(inputs, token_type_ids, attention_mask)
    loss = F.cross_entropy(logits.view(-1, vocab_size), labels.view(-1), ignore_index=-100)
    opt.zero_grad()
    loss.backward()
    opt.step()
    print("step", step, "loss:", round(loss.item(), 5))
print("attention on padding:", probs[0, 0, :, 8:].abs().max().item())
print("pad embedding grad:", model.emb.word.weight.grad[PAD].abs().sum().item())
