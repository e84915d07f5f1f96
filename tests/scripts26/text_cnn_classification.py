# Convolutional sentence classification (Kim's CNN, as in the "sentiment analysis" /
# text-CNN tutorials): padded token ids, an Embedding with padding_idx, permute to
# (N, C, L), several Conv1d filter widths, ReLU and max-over-time pooling with
# F.max_pool1d(kernel_size=L) / .max(dim=2), concatenation, dropout (in eval for the
# compared outputs), a Linear head with BCEWithLogitsLoss, and accuracy.
import torch
import torch.nn as nn
import torch.nn.functional as F


class CNN(nn.Module):
    def __init__(
        self, vocab_size, embedding_dim, n_filters, filter_sizes, output_dim, dropout, pad_idx
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
        self.convs = nn.ModuleList([nn.Conv1d(embedding_dim, n_filters, fs) for fs in filter_sizes])
        self.fc = nn.Linear(len(filter_sizes) * n_filters, output_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, text):
        embedded = self.embedding(text).permute(0, 2, 1)
        conved = [F.relu(conv(embedded)) for conv in self.convs]
        pooled = [F.max_pool1d(conv, conv.shape[2]).squeeze(2) for conv in conved]
        cat = self.dropout(torch.cat(pooled, dim=1))
        return self.fc(cat)


sentences = [
    [2, 5, 7, 9, 4, 0, 0],
    [3, 8, 8, 6, 0, 0, 0],
    [2, 2, 5, 9, 9, 7, 4],
    [6, 3, 8, 0, 0, 0, 0],
    [5, 9, 7, 2, 0, 0, 0],
    [8, 6, 3, 3, 6, 0, 0],
]
labels = torch.tensor([1.0, 0.0, 1.0, 0.0, 1.0, 0.0])
text = torch.tensor(sentences)
model = CNN(10, 6, 3, [2, 3, 4], 1, 0.5, 0)
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.57 + i).view_as(p) * 0.4)
    model.embedding.weight[0].zero_()
print("params:", sum(p.numel() for p in model.parameters() if p.requires_grad))
criterion = nn.BCEWithLogitsLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.02)


def binary_accuracy(preds, y):
    rounded_preds = torch.round(torch.sigmoid(preds))
    correct = (rounded_preds == y).float()
    return correct.sum() / len(correct)


for epoch in range(10):
    model.eval()  # dropout off so both libraries train the same function
    optimizer.zero_grad()
    predictions = model(text).squeeze(1)
    loss = criterion(predictions, labels)
    acc = binary_accuracy(predictions, labels)
    loss.backward()
    optimizer.step()
    print(f"epoch {epoch} loss: {loss.item():.5f} acc: {acc.item():.3f}")
model.eval()
with torch.no_grad():
    preds = torch.sigmoid(model(text).squeeze(1))
print("predictions:", preds)
print("padding row:", model.embedding.weight[0])
emb = model.embedding(text).permute(0, 2, 1)
c = F.relu(model.convs[1](emb))
print(
    "max_pool1d == max:",
    torch.allclose(F.max_pool1d(c, c.shape[2]).squeeze(2), c.max(dim=2).values),
)
