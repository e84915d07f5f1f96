# The "Defining a Neural Network in PyTorch" recipe: the MNIST Net (conv1 1->32, conv2
# 32->64, dropout1 / dropout2, fc1 9216->128, fc2 128->10) with forward through F.relu,
# F.max_pool2d, torch.flatten(x, 1) and F.log_softmax; the model's repr, parameter names
# and shapes, and one forward pass on a fixed "image" in eval mode.
import torch
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout2d(0.25)
        self.dropout2 = nn.Dropout2d(0.5)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


my_nn = Net()
print(my_nn)
for name, p in my_nn.named_parameters():
    print("param", name + ":", tuple(p.shape), p.requires_grad)
print("count:", sum(p.numel() for p in my_nn.parameters()))

with torch.no_grad():
    for i, p in enumerate(my_nn.parameters()):
        k = torch.arange(p.numel(), dtype=torch.float32)
        p.copy_((torch.sin(k * 0.37 + i) * (1.0 / (p[0].numel() ** 0.5))).view_as(p))

random_data = (torch.arange(28 * 28, dtype=torch.float32).view(1, 1, 28, 28) % 17) / 17.0
my_nn.eval()
result = my_nn(random_data)
print("result shape:", result.shape)
print("result:", result)
print("probs sum:", result.exp().sum().item())
print("argmax:", result.argmax(dim=1).item())
my_nn.train()
print("training flags:", my_nn.training, my_nn.dropout1.training)
