# The quickstart: a Dataset + DataLoader, a model, a loss, an optimizer, train() and
# test() loops, then save and reload the model. Random "FashionMNIST" stand-in data.
import io

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
rng = np.random.default_rng(0)
centers = rng.standard_normal((10, 28 * 28)).astype(np.float32)
labels = rng.integers(0, 10, size=640)
images = (centers[labels] + 1.5 * rng.standard_normal((640, 28 * 28)).astype(np.float32)).reshape(
    640, 1, 28, 28
)
training_data = TensorDataset(torch.from_numpy(images[:512]), torch.from_numpy(labels[:512]))
test_data = TensorDataset(torch.from_numpy(images[512:]), torch.tensor(labels[512:]))

batch_size = 64
train_dataloader = DataLoader(training_data, batch_size=batch_size)
test_dataloader = DataLoader(test_data, batch_size=batch_size)

for X, y in test_dataloader:
    print(f"Shape of X [N, C, H, W]: {X.shape}")
    print(f"Shape of y: {y.shape} {y.dtype}")
    break
print("len loaders:", len(train_dataloader), len(test_dataloader), len(training_data))

device = "cuda" if torch.cuda.is_available() else "cpu"


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 128),
            nn.ReLU(),
            nn.Linear(128, 128),
            nn.ReLU(),
            nn.Linear(128, 10),
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


model = NeuralNetwork().to(device)
init = np.random.default_rng(1)
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.from_numpy(init.uniform(-0.05, 0.05, size=tuple(p.shape)).astype(np.float32)))

loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)


def train(dataloader, model, loss_fn, optimizer):
    size = len(dataloader.dataset)
    model.train()
    for batch, (X, y) in enumerate(dataloader):
        X, y = X.to(device), y.to(device)
        pred = model(X)
        loss = loss_fn(pred, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if batch % 4 == 0:
            loss, current = loss.item(), (batch + 1) * len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")


def test(dataloader, model, loss_fn):
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            X, y = X.to(device), y.to(device)
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    print(f"Test Error: Accuracy: {(100 * correct):>0.1f}%, Avg loss: {test_loss:>8f}")
    return correct


epochs = 3
for t in range(epochs):
    print(f"Epoch {t + 1}")
    train(train_dataloader, model, loss_fn, optimizer)
    acc = test(test_dataloader, model, loss_fn)
print("Done!")

buffer = io.BytesIO()
torch.save(model.state_dict(), buffer)
buffer.seek(0)
model = NeuralNetwork().to(device)
model.load_state_dict(torch.load(buffer, weights_only=True))

classes = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
model.eval()
x, y = test_data[0][0], test_data[0][1]
with torch.no_grad():
    x = x.to(device)
    pred = model(x)
    predicted, actual = classes[pred[0].argmax(0)], classes[y]
    print(f'Predicted: "{predicted}", Actual: "{actual}"')


# a shuffled loader and a custom Dataset, as in "Datasets & DataLoaders"
class CustomDataset(torch.utils.data.Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, idx):
        return torch.full((3,), float(idx)), idx % 2


loader = DataLoader(CustomDataset(10), batch_size=4, shuffle=True, drop_last=False)
seen = []
for xb, yb in loader:
    seen.extend(xb[:, 0].long().tolist())
    last_shapes = (list(xb.shape), list(yb.shape), yb.dtype)
print("shuffled covers all:", sorted(seen) == list(range(10)), len(loader))
print("last batch:", *last_shapes)
g = torch.Generator().manual_seed(0)
parts = torch.utils.data.random_split(CustomDataset(10), [7, 3], generator=g)
print("random_split sizes:", [len(p) for p in parts])
