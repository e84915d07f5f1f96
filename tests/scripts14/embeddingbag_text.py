# "Text classification with the torchtext library": an nn.EmbeddingBag model over
# concatenated token ids + offsets, a collate_fn, SGD + StepLR, clip_grad_norm_.
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

torch.manual_seed(0)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

corpus = [
    (1, "the team won the match in the final minute"),
    (2, "stocks fell as the market closed lower today"),
    (3, "the new phone has a faster chip and camera"),
    (0, "leaders met to discuss the trade agreement"),
    (1, "the striker scored twice in the second half"),
    (2, "the bank raised interest rates again"),
    (3, "researchers released a new open source model"),
    (0, "the president signed the bill into law"),
] * 4
words = sorted({w for _, text in corpus for w in text.split()})
vocab = {w: i + 1 for i, w in enumerate(words)}  # 0 is <unk>


def text_pipeline(x):
    return [vocab.get(w, 0) for w in x.split()]


def label_pipeline(x):
    return int(x)


print("text_pipeline:", text_pipeline("the team won the race"))


def collate_batch(batch):
    label_list, text_list, offsets = [], [], [0]
    for _label, _text in batch:
        label_list.append(label_pipeline(_label))
        processed_text = torch.tensor(text_pipeline(_text), dtype=torch.int64)
        text_list.append(processed_text)
        offsets.append(processed_text.size(0))
    label_list = torch.tensor(label_list, dtype=torch.int64)
    offsets = torch.tensor(offsets[:-1]).cumsum(dim=0)
    text_list = torch.cat(text_list)
    return label_list.to(device), text_list.to(device), offsets.to(device)


class TextClassificationModel(nn.Module):
    def __init__(self, vocab_size, embed_dim, num_class):
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, sparse=False)
        self.fc = nn.Linear(embed_dim, num_class)
        self.init_weights()

    def init_weights(self):
        initrange = 0.5
        self.embedding.weight.data.uniform_(-initrange, initrange)
        self.fc.weight.data.uniform_(-initrange, initrange)
        self.fc.bias.data.zero_()

    def forward(self, text, offsets):
        embedded = self.embedding(text, offsets)
        return self.fc(embedded)


num_class = 4
vocab_size = len(vocab) + 1
emsize = 16
model = TextClassificationModel(vocab_size, emsize, num_class).to(device)
print(
    "rng uniform init in range:",
    bool(model.embedding.weight.abs().max() <= 0.5),
    model.fc.bias.abs().sum().item(),
)
rng = np.random.default_rng(0)
with torch.no_grad():
    model.embedding.weight.copy_(
        torch.from_numpy(rng.uniform(-0.5, 0.5, (vocab_size, emsize)).astype(np.float32))
    )
    model.fc.weight.copy_(
        torch.from_numpy(rng.uniform(-0.5, 0.5, (num_class, emsize)).astype(np.float32))
    )

EPOCHS = 4
LR = 5
BATCH_SIZE = 8
criterion = torch.nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=LR)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1.0, gamma=0.1)
train_dataloader = DataLoader(
    corpus[:24], batch_size=BATCH_SIZE, shuffle=False, collate_fn=collate_batch
)
valid_dataloader = DataLoader(
    corpus[24:], batch_size=BATCH_SIZE, shuffle=False, collate_fn=collate_batch
)


def train(dataloader):
    model.train()
    total_acc, total_count = 0, 0
    for idx, (label, text, offsets) in enumerate(dataloader):
        optimizer.zero_grad()
        predicted_label = model(text, offsets)
        loss = criterion(predicted_label, label)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        optimizer.step()
        total_acc += (predicted_label.argmax(1) == label).sum().item()
        total_count += label.size(0)
        print(f"batch {idx} loss {loss.item():.5f}")
    return total_acc / total_count


def evaluate(dataloader):
    model.eval()
    total_acc, total_count = 0, 0
    with torch.no_grad():
        for label, text, offsets in dataloader:
            predicted_label = model(text, offsets)
            criterion(predicted_label, label)
            total_acc += (predicted_label.argmax(1) == label).sum().item()
            total_count += label.size(0)
    return total_acc / total_count


total_accu = None
for epoch in range(1, EPOCHS + 1):
    train_acc = train(train_dataloader)
    accu_val = evaluate(valid_dataloader)
    if total_accu is not None and total_accu > accu_val:
        scheduler.step()
    else:
        total_accu = accu_val
    print(
        f"end of epoch {epoch} train accuracy {train_acc:8.3f} "
        f"valid accuracy {accu_val:8.3f} lr {scheduler.get_last_lr()[0]:.4f}"
    )

ag_news_label = {1: "World", 2: "Sports", 3: "Business", 4: "Sci/Tec"}


def predict(text, text_pipeline):
    with torch.no_grad():
        text = torch.tensor(text_pipeline(text))
        output = model(text, torch.tensor([0]))
        return output.argmax(1).item() + 1


ex_text_str = "the striker scored in the final"
print(f"This is a {ag_news_label[predict(ex_text_str, text_pipeline)]} news")

# the other modes, per_sample_weights, padding_idx, and nn.Embedding
bag_sum = nn.EmbeddingBag(10, 3, mode="sum")
bag_max = nn.EmbeddingBag(10, 3, mode="max")
emb = nn.Embedding(10, 3, padding_idx=0)
weight = torch.from_numpy(np.arange(30, dtype=np.float32).reshape(10, 3) / 10)
with torch.no_grad():
    for m in (bag_sum, bag_max, emb):
        m.weight.copy_(weight)
inp = torch.tensor([1, 2, 4, 5, 4, 3, 2, 9])
offs = torch.tensor([0, 4])
print("sum:", bag_sum(inp, offs).tolist())
print("max:", bag_max(inp, offs).tolist())
psw = torch.linspace(0.5, 2.0, 8)
print(
    "weighted sum:", bag_sum(inp, offs, per_sample_weights=psw).detach().numpy().round(5).tolist()
)
print("2-D input:", bag_sum(inp.view(2, 4)).tolist())
out = emb(torch.tensor([[0, 2], [4, 0]]))
out.sum().backward()
print("embedding grad rows:", emb.weight.grad.sum(1).tolist())
pretrained = nn.Embedding.from_pretrained(weight, freeze=True)
print("from_pretrained:", pretrained(torch.tensor([3])).tolist(), pretrained.weight.requires_grad)
