# The current "Quickstart" and "Build the Neural Network" tutorials, which pick the device
# with the torch.accelerator API: current_accelerator().type if is_available() else
# "cpu", the NeuralNetwork (Flatten + Linear/ReLU stack), model structure printing,
# nn.Softmax(dim=1) on logits, train / test loops over a DataLoader of synthetic
# FashionMNIST-shaped data, torch.save(model.state_dict()) and loading it back with
# weights_only=True, and predicting a class name.
import io

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

device = torch.accelerator.current_accelerator().type if torch.accelerator.is_available() else "cpu"
print(f"Using {device} device")
print("device count:", torch.accelerator.device_count() if device != "cpu" else 0)

rng = np.random.default_rng(0)
train_x = torch.from_numpy(rng.random((64, 1, 28, 28)).astype(np.float32))
train_y = torch.from_numpy(rng.integers(0, 10, 64))
test_x = torch.from_numpy(rng.random((32, 1, 28, 28)).astype(np.float32))
test_y = torch.from_numpy(rng.integers(0, 10, 32))
batch_size = 16
train_dataloader = DataLoader(TensorDataset(train_x, train_y), batch_size=batch_size)
test_dataloader = DataLoader(TensorDataset(test_x, test_y), batch_size=batch_size)
for X, y in test_dataloader:
    print(f"Shape of X [N, C, H, W]: {X.shape}")
    print(f"Shape of y: {y.shape} {y.dtype}")
    break


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(28 * 28, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 10)
        )

    def forward(self, x):
        x = self.flatten(x)
        return self.linear_relu_stack(x)


model = NeuralNetwork().to(device)
print(model)
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(
            torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.31 + i).reshape(p.shape)
            * 0.05
        )
for name, param in model.named_parameters():
    print(f"Layer: {name} | Size: {param.size()} | Values : {param[:2].flatten()[:2]} \n")

X = torch.linspace(0, 1, 3 * 28 * 28).reshape(3, 28, 28)
logits = model(X)
pred_probab = nn.Softmax(dim=1)(logits)
y_pred = pred_probab.argmax(1)
print(f"Predicted class: {y_pred}")

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
        if batch % 2 == 0:
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
    print(f"Test Error: \n Accuracy: {(100 * correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")


epochs = 2
for t in range(epochs):
    print(f"Epoch {t + 1}\n-------------------------------")
    train(train_dataloader, model, loss_fn, optimizer)
    test(test_dataloader, model, loss_fn)
print("Done!")
buffer = io.BytesIO()
torch.save(model.state_dict(), buffer)
print("Saved PyTorch Model State to model.pth")
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
x, y = test_x[0], test_y[0]
with torch.no_grad():
    x = x.to(device)
    pred = model(x)
    predicted, actual = classes[pred[0].argmax(0)], classes[y]
    print(f'Predicted: "{predicted}", Actual: "{actual}"')
