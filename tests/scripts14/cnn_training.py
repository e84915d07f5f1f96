# "Training a classifier" (CIFAR-10 tutorial) on random 32x32 images, with the tutorial's
# Net plus a variant with batch normalization and dropout.
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(0)
device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")

rng = np.random.default_rng(0)
n = 96
labels = rng.integers(0, 10, size=n)
images = rng.standard_normal((n, 3, 32, 32)).astype(np.float32) * 0.5
images[np.arange(n), labels % 3, :, :] += (labels[:, None, None] / 10.0).astype(np.float32)
trainset = TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))
trainloader = DataLoader(trainset, batch_size=16, shuffle=False)
classes = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)  # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


class BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, kernel_size=3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(8, 16, kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
            nn.AvgPool2d(2),
            nn.Dropout2d(0.1),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(nn.Dropout(p=0.5), nn.Linear(16 * 2 * 2, 10))

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def deterministic_init(model, seed):
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif p.dim() == 1:  # batch-norm weight
                p.fill_(1.0)
            else:
                fan_in = p[0].numel()
                p.copy_(
                    torch.from_numpy(
                        rng.uniform(-1, 1, size=tuple(p.shape)).astype(np.float32) / fan_in**0.5
                    )
                )


for Model, epochs in ((Net, 2), (BNNet, 2)):
    net = Model().to(device)
    deterministic_init(net, 1)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    dropout = Model is BNNet  # dropout masks depend on the RNG stream
    tag = "rng " if dropout else ""
    with torch.no_grad():
        net.eval()
        logits = net(torch.from_numpy(images[:2]).to(device)).cpu().numpy().round(4)
        print(f"{Model.__name__} initial eval logits: {logits.tolist()}")
    net.train()
    for epoch in range(epochs):
        running_loss = 0.0
        for i, data in enumerate(trainloader, 0):
            inputs, labels_b = data[0].to(device), data[1].to(device)
            optimizer.zero_grad()
            outputs = net(inputs)
            loss = criterion(outputs, labels_b)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            if i % 3 == 2:
                print(
                    f"{tag}{Model.__name__} [{epoch + 1}, {i + 1:5d}] loss: {running_loss / 3:.3f}"
                )
                running_loss = 0.0
    if dropout:
        print("running_var positive:", bool((net.features[1].running_var > 0).all()))
    correct = 0
    total = 0
    net.eval()
    with torch.no_grad():
        for data in trainloader:
            images_b, labels_b = data
            outputs = net(images_b.to(device))
            _, predicted = torch.max(outputs.data, 1)
            total += labels_b.size(0)
            correct += (predicted.cpu() == labels_b).sum().item()
    print(f"{tag}{Model.__name__} accuracy on the {total} train images: {100 * correct // total} %")

# shapes through the layers, and the functional forms
x = torch.from_numpy(images[:4])
conv = nn.Conv2d(3, 4, kernel_size=(3, 5), stride=(2, 1), padding=(1, 2), dilation=1, groups=1)
deterministic_init(conv, 2)
print("conv out:", list(conv(x).shape), round(conv(x).sum().item(), 3))
grouped = nn.Conv2d(4, 8, 3, groups=2, padding="same")
deterministic_init(grouped, 3)
print("grouped same:", list(grouped(conv(x)).shape))
print(
    "max_pool2d:",
    list(F.max_pool2d(x, 3, stride=2, padding=1).shape),
    round(F.max_pool2d(x, 2).sum().item(), 3),
)
print("avg_pool2d:", round(F.avg_pool2d(x, 4, ceil_mode=True).sum().item(), 3))
pooled, idx = F.max_pool2d(x, 2, return_indices=True)
print("indices:", idx[0, 0, 0, :4].tolist())
print("adaptive max:", F.adaptive_max_pool2d(x, (3, 3)).shape)
bn = nn.BatchNorm2d(3, momentum=None)
bn(x)
bn(x * 2)
print("cumulative bn running_mean:", bn.running_mean.numpy().round(5).tolist())
print(
    "softmax sums:", F.softmax(conv(x).flatten(1), dim=1).sum(1).detach().numpy().round(5).tolist()
)
