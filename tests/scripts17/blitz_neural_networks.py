# "Deep Learning with PyTorch: A 60 Minute Blitz": the "Neural Networks" part (Net,
# net.parameters(), zero_grad + backward with random gradients, loss.grad_fn walk,
# manual SGD update, optim) and the "Training a Classifier" part on CIFAR-shaped
# synthetic images (two epochs, accuracy per class, saving/loading the state_dict).
import io

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, input):
        c1 = F.relu(self.conv1(input))
        s2 = F.max_pool2d(c1, (2, 2))
        c3 = F.relu(self.conv2(s2))
        s4 = F.max_pool2d(c3, 2)
        s4 = torch.flatten(s4, 1)
        f5 = F.relu(self.fc1(s4))
        f6 = F.relu(self.fc2(f5))
        output = self.fc3(f6)
        return output


def fixed_init(model, scale=0.1):
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.copy_(
                torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.731 + i).reshape(p.shape)
                * scale
            )


net = Net()
print(net)
params = list(net.parameters())
print(len(params))
print(params[0].size())
fixed_init(net)
input = torch.cos(torch.arange(32 * 32, dtype=torch.float32) * 0.1).reshape(1, 1, 32, 32)
out = net(input)
print("out:", out.detach().numpy().round(5).tolist())
net.zero_grad()
out.backward(torch.linspace(-1, 1, 10).reshape(1, 10))
print("conv1.bias.grad after backward:", net.conv1.bias.grad.numpy().round(5).tolist())
output = net(input)
target = torch.arange(10, dtype=torch.float32).view(1, -1) * 0.1
criterion = nn.MSELoss()
loss = criterion(output, target)
print("loss:", round(loss.item(), 6))
print("grad_fn:", type(loss.grad_fn).__name__)  # MSELoss
print("grad_fn next:", type(loss.grad_fn.next_functions[0][0]).__name__)  # Linear
print("grad_fn next next:", type(loss.grad_fn.next_functions[0][0].next_functions[0][0]).__name__)
net.zero_grad()
print("conv1.bias.grad before backward", net.conv1.bias.grad)
loss.backward()
print("conv1.bias.grad after backward", net.conv1.bias.grad.numpy().round(6).tolist())
learning_rate = 0.01
for f in net.parameters():
    f.data.sub_(f.grad.data * learning_rate)
print("after manual sgd:", round(criterion(net(input), target).item(), 6))
optimizer = optim.SGD(net.parameters(), lr=0.01)
optimizer.zero_grad()
output = net(input)
loss = criterion(output, target)
loss.backward()
optimizer.step()
print("after optim step:", round(criterion(net(input), target).item(), 6))

# Training a classifier on CIFAR-10 shaped data
classes = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class CifarNet(nn.Module):
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
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


n = 40
labels_all = torch.arange(n) % 10
grid = torch.arange(3 * 32 * 32, dtype=torch.float32).reshape(3, 32, 32)
images_all = torch.stack(
    [torch.sin(grid * (0.01 + 0.003 * int(c)) + 0.1 * i) for i, c in enumerate(labels_all)]
)
trainset = torch.utils.data.TensorDataset(images_all, labels_all)
trainloader = torch.utils.data.DataLoader(trainset, batch_size=4, shuffle=False, num_workers=0)
net = CifarNet()
fixed_init(net, 0.05)
criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
for epoch in range(2):
    running_loss = 0.0
    for i, data in enumerate(trainloader, 0):
        inputs, labels = data
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
        if i % 5 == 4:
            print(f"[{epoch + 1}, {i + 1:5d}] loss: {running_loss / 5:.5f}")
            running_loss = 0.0
print("Finished Training")
buffer = io.BytesIO()
torch.save(net.state_dict(), buffer)
buffer.seek(0)
net = CifarNet()
net.load_state_dict(torch.load(buffer, weights_only=True))
correct = 0
total = 0
correct_pred = {classname: 0 for classname in classes}
total_pred = {classname: 0 for classname in classes}
with torch.no_grad():
    for data in trainloader:
        images, labels = data
        outputs = net(images)
        _, predicted = torch.max(outputs, 1)
        total += labels.size(0)
        correct += (predicted == labels).sum().item()
        for label, prediction in zip(labels, predicted):
            if label == prediction:
                correct_pred[classes[label]] += 1
            total_pred[classes[label]] += 1
print(f"Accuracy of the network on the {total} train images: {100 * correct // total} %")
for classname, correct_count in correct_pred.items():
    accuracy = 100 * float(correct_count) / total_pred[classname]
    print(f"Accuracy for class: {classname:5s} is {accuracy:.1f} %")
outputs = net(images_all[:4])
print("logits:", outputs.detach().numpy().round(4)[0].tolist())
print("Predicted: ", " ".join(f"{classes[j]:5s}" for j in torch.max(outputs, 1)[1]))
