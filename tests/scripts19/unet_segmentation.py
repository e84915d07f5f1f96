# A small U-Net for semantic segmentation as in segmentation tutorials: DoubleConv blocks
# (Conv2d, BatchNorm2d, ReLU(inplace=True)), MaxPool2d down path, ConvTranspose2d up path
# with F.pad to match odd sizes and torch.cat skip connections, CrossEntropyLoss on
# (N, C, H, W) logits with (N, H, W) targets and ignore_index, a soft Dice loss with
# one_hot().permute, per-class IoU from argmax predictions, and eval-mode inference.
import torch
import torch.nn as nn
import torch.nn.functional as F


class DoubleConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        return self.double_conv(x)


class Up(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x1, x2):
        x1 = self.up(x1)
        diffY = x2.size()[2] - x1.size()[2]
        diffX = x2.size()[3] - x1.size()[3]
        x1 = F.pad(x1, [diffX // 2, diffX - diffX // 2, diffY // 2, diffY - diffY // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


class UNet(nn.Module):
    def __init__(self, n_channels, n_classes):
        super().__init__()
        self.inc = DoubleConv(n_channels, 4)
        self.down1 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(4, 8))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(8, 16))
        self.up1 = Up(16, 8)
        self.up2 = Up(8, 4)
        self.outc = nn.Conv2d(4, n_classes, kernel_size=1)

    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x = self.up1(x3, x2)
        x = self.up2(x, x1)
        return self.outc(x)


def dice_loss(logits, target, n_classes, eps=1e-6):
    probs = F.softmax(logits, dim=1)
    one_hot = F.one_hot(target, n_classes).permute(0, 3, 1, 2).float()
    dims = (0, 2, 3)
    inter = torch.sum(probs * one_hot, dims)
    card = torch.sum(probs + one_hot, dims)
    return 1 - (2.0 * inter / (card + eps)).mean()


n_classes = 3
model = UNet(1, n_classes)
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(
            torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.53 + i).reshape(p.shape)
            * 0.3
        )
yy, xx = torch.meshgrid(torch.arange(10.0), torch.arange(11.0), indexing="ij")
image = torch.stack([torch.sin(xx / 2 + yy / 3), torch.cos(xx / 3 - yy / 2)]).unsqueeze(1)
mask = ((xx > 5).long() + (yy > 6).long()).unsqueeze(0).repeat(2, 1, 1)
mask[1, 0, :] = 255
print("sizes:", list(image.shape), list(model(image).shape))
criterion = nn.CrossEntropyLoss(ignore_index=255)
optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3, weight_decay=1e-8, momentum=0.9)
for epoch in range(5):
    model.train()
    logits = model(image)
    safe = mask.clone()
    safe[safe == 255] = 0
    loss = criterion(logits, mask) + dice_loss(logits, safe, n_classes)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    print("epoch", epoch, round(loss.item(), 5))
model.eval()
with torch.no_grad():
    pred = model(image).argmax(dim=1)
ious = []
for c in range(n_classes):
    valid = mask != 255
    inter = ((pred == c) & (mask == c) & valid).sum().item()
    union = (((pred == c) | (mask == c)) & valid).sum().item()
    ious.append(round(inter / union, 5) if union else float("nan"))
print("pred counts:", torch.bincount(pred.flatten(), minlength=n_classes).tolist(), "iou:", ious)
print("bn running var:", model.inc.double_conv[1].running_var.numpy().round(5).tolist())
