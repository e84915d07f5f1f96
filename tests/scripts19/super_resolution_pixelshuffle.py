# pytorch/examples "super_resolution": the ESPCN-style Net (Conv2d 5x5 / 3x3, ReLU,
# nn.PixelShuffle(upscale_factor)), init.orthogonal_ with calculate_gain('relu') replaced by
# a fixed fill (the orthogonal draw is random), the YCbCr luminance of a synthetic image,
# low-resolution inputs made with F.interpolate(mode="bicubic") / avg_pool2d, MSE training
# with Adam, PSNR, and PixelUnshuffle / pixel_shuffle round trips.
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.init as init


class Net(nn.Module):
    def __init__(self, upscale_factor):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv1 = nn.Conv2d(1, 8, (5, 5), (1, 1), (2, 2))
        self.conv2 = nn.Conv2d(8, 8, (3, 3), (1, 1), (1, 1))
        self.conv3 = nn.Conv2d(8, 4, (3, 3), (1, 1), (1, 1))
        self.conv4 = nn.Conv2d(4, upscale_factor**2, (3, 3), (1, 1), (1, 1))
        self.pixel_shuffle = nn.PixelShuffle(upscale_factor)
        self._initialize_weights()

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = self.relu(self.conv3(x))
        return self.pixel_shuffle(self.conv4(x))

    def _initialize_weights(self):
        gain = init.calculate_gain("relu")
        for i, conv in enumerate([self.conv1, self.conv2, self.conv3, self.conv4]):
            with torch.no_grad():
                w = torch.sin(torch.arange(conv.weight.numel(), dtype=torch.float32) * 0.37 + i)
                conv.weight.copy_(w.reshape(conv.weight.shape) * (gain if i < 3 else 1.0) * 0.2)
                conv.bias.fill_(0.01)


print("gain relu:", round(init.calculate_gain("relu"), 6))
yy, xx = torch.meshgrid(torch.linspace(0, 1, 16), torch.linspace(0, 1, 16), indexing="ij")
rgb = torch.stack([torch.sin(6 * xx) * 0.5 + 0.5, torch.cos(4 * yy) * 0.5 + 0.5, xx * yy], 0)
y_channel = (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]).unsqueeze(0).unsqueeze(0)
target = y_channel.repeat(2, 1, 1, 1)
target[1] = target[1].flip(-1)
low_bicubic = F.interpolate(target, scale_factor=0.5, mode="bicubic", align_corners=False)
low = F.avg_pool2d(target, 2)
print("lr input:", list(low.shape), round(low.sum().item(), 4), round(low_bicubic.sum().item(), 4))

model = Net(upscale_factor=2)
criterion = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
for epoch in range(1, 7):
    optimizer.zero_grad()
    loss = criterion(model(low), target)
    loss.backward()
    optimizer.step()
    print(f"===> Epoch {epoch}: Loss: {loss.item():.6f}")
with torch.no_grad():
    mse = criterion(model(low), target)
    psnr = 10 * math.log10(1 / mse.item())
print(f"===> Avg. PSNR: {psnr:.4f} dB")
up = F.interpolate(low, scale_factor=2, mode="bicubic", align_corners=False).clamp(0, 1)
print("bicubic baseline psnr:", round(10 * math.log10(1 / criterion(up, target).item()), 4))

x = torch.arange(2 * 8 * 4 * 4, dtype=torch.float32).reshape(2, 8, 4, 4)
shuffled = nn.PixelShuffle(2)(x)
print("pixel_shuffle:", list(shuffled.shape), shuffled[0, 0, :2, :4].tolist())
print(
    "unshuffle round trip:",
    torch.equal(nn.PixelUnshuffle(2)(shuffled), x),
    torch.equal(F.pixel_unshuffle(F.pixel_shuffle(x, 2), 2), x),
)
