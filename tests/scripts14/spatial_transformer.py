# "Spatial transformer networks": a localization network regressing an affine matrix
# (initialised to the identity), F.affine_grid + F.grid_sample, trained a few steps on
# random 28x28 images; plus the sampling options on their own.
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

rng = np.random.default_rng(0)
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5)
        self.conv2 = nn.Conv2d(6, 10, kernel_size=5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(160, 32)
        self.fc2 = nn.Linear(32, 10)
        self.localization = nn.Sequential(
            nn.Conv2d(1, 4, kernel_size=7),
            nn.MaxPool2d(2, stride=2),
            nn.ReLU(True),
            nn.Conv2d(4, 6, kernel_size=5),
            nn.MaxPool2d(2, stride=2),
            nn.ReLU(True),
        )
        self.fc_loc = nn.Sequential(nn.Linear(6 * 3 * 3, 16), nn.ReLU(True), nn.Linear(16, 3 * 2))
        self.fc_loc[2].weight.data.zero_()
        self.fc_loc[2].bias.data.copy_(torch.tensor([1, 0, 0, 0, 1, 0], dtype=torch.float))

    def stn(self, x):
        xs = self.localization(x)
        xs = xs.view(-1, 6 * 3 * 3)
        theta = self.fc_loc(xs)
        theta = theta.view(-1, 2, 3)
        grid = F.affine_grid(theta, x.size(), align_corners=False)
        x = F.grid_sample(x, grid, align_corners=False)
        return x

    def forward(self, x):
        x = self.stn(x)
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = x.view(-1, 160)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, training=self.training)
        x = self.fc2(x)
        return F.log_softmax(x, dim=1)


model = Net().to(device)
with torch.no_grad():
    for name, p in model.named_parameters():
        if not name.startswith("fc_loc.2"):
            p.copy_(torch.from_numpy(rng.uniform(-0.2, 0.2, tuple(p.shape)).astype(np.float32)))
data = torch.from_numpy(rng.random((8, 1, 28, 28), dtype=np.float32))
target = torch.from_numpy(rng.integers(0, 10, 8))
with torch.no_grad():
    model.eval()
    print("identity transform keeps the image:", torch.allclose(model.stn(data), data, atol=1e-5))
optimizer = optim.SGD(model.parameters(), lr=0.05)
model.eval()  # dropout off, so that the losses do not depend on the random stream
for step in range(4):
    optimizer.zero_grad()
    output = model(data)
    loss = F.nll_loss(output, target)
    loss.backward()
    optimizer.step()
    bias = model.fc_loc[2].bias.detach().numpy().round(5).tolist()
    print(f"step {step} loss {loss.item():.6f} theta bias {bias}")
model.train()
loss = F.nll_loss(model(data), target)
print(f"rng train-mode loss: {loss.item():.4f}")

# affine_grid / grid_sample on their own
angle = math.pi / 6
theta = torch.tensor(
    [[[math.cos(angle), -math.sin(angle), 0.1], [math.sin(angle), math.cos(angle), -0.2]]],
    requires_grad=True,
)
img = torch.from_numpy(rng.random((1, 2, 5, 6), dtype=np.float32)).requires_grad_()
for align in (False, True):
    grid = F.affine_grid(theta, (1, 2, 4, 3), align_corners=align)
    print(f"grid align={align}:", list(grid.shape), grid[0, 0].detach().numpy().round(5).tolist())
    for mode in ("bilinear", "nearest"):
        for padding_mode in ("zeros", "border", "reflection"):
            grid = F.affine_grid(theta, (1, 2, 4, 3), align_corners=align)
            out = F.grid_sample(
                img, grid, mode=mode, padding_mode=padding_mode, align_corners=align
            )
            gi, gt = torch.autograd.grad(out.sum(), (img, theta))
            print(
                f"grid_sample {mode} {padding_mode} align={align}:",
                out.detach().numpy().round(5).flatten()[:4].tolist(),
                round(gi.sum().item(), 5),
                gt.numpy().round(4).flatten().tolist() if mode == "bilinear" else None,
            )
