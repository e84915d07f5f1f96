# A torchvision-style ResNet written out as in the ResNet tutorials: BasicBlock with a
# 1x1 downsample shortcut, conv3x3 / conv1x1 helpers, kaiming_normal_(mode="fan_out")
# init replaced by a fixed fill but zero_init_residual kept, AdaptiveAvgPool2d, the
# optimizer's parameter groups without weight decay for BatchNorm and biases, a few SGD
# steps with nesterov and MultiStepLR, train/eval BatchNorm behaviour, and freezing BN.
import torch
import torch.nn as nn


def conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(self, layers, num_classes=4, zero_init_residual=True):
        super().__init__()
        self.inplanes = 4
        self.conv1 = nn.Conv2d(3, 4, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(4, layers[0])
        self.layer2 = self._make_layer(8, layers[1], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8, num_classes)
        for i, m in enumerate(self.modules()):
            if isinstance(m, nn.Conv2d):
                with torch.no_grad():
                    m.weight.copy_(
                        torch.sin(
                            torch.arange(m.weight.numel(), dtype=torch.float32) * 0.7 + i
                        ).reshape(m.weight.shape)
                        * 0.3
                    )
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)
        with torch.no_grad():
            self.fc.weight.copy_(
                torch.cos(torch.arange(self.fc.weight.numel(), dtype=torch.float32)).reshape(
                    self.fc.weight.shape
                )
                * 0.3
            )
            self.fc.bias.zero_()

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes, stride), nn.BatchNorm2d(planes)
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        for _ in range(1, blocks):
            layers.append(BasicBlock(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


model = ResNet([2, 1])
print("blocks:", [type(m).__name__ for m in model.layer2[0].children()])
print("zero-init bn2:", model.layer1[0].bn2.weight.sum().item())
decay, no_decay = [], []
for name, param in model.named_parameters():
    (no_decay if param.ndim <= 1 or name.endswith(".bias") else decay).append(param)
print("groups:", len(decay), len(no_decay))
optimizer = torch.optim.SGD(
    [{"params": decay, "weight_decay": 1e-4}, {"params": no_decay, "weight_decay": 0.0}],
    lr=0.1,
    momentum=0.9,
    nesterov=True,
)
scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2, 4], gamma=0.1)
x = torch.linspace(-1, 1, 4 * 3 * 8 * 8).reshape(4, 3, 8, 8).sin() * 2
y = torch.tensor([0, 1, 2, 3])
criterion = nn.CrossEntropyLoss()
for epoch in range(5):
    model.train()
    loss = criterion(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scheduler.step()
    print("epoch", epoch, round(loss.item(), 5), scheduler.get_last_lr())
print("num_batches_tracked:", model.bn1.num_batches_tracked.item())
model.eval()
with torch.no_grad():
    out_eval = model(x)
print("eval logits:", out_eval[0].numpy().round(5).tolist())


def freeze_bn(m):
    if isinstance(m, nn.BatchNorm2d):
        m.eval()
        m.weight.requires_grad_(False)
        m.bias.requires_grad_(False)


model.train()
model.apply(freeze_bn)
before = model.bn1.running_mean.clone()
model(x)
print(
    "frozen bn unchanged:",
    torch.equal(before, model.bn1.running_mean),
    model.bn1.training,
    model.training,
)
print("trainable:", sum(p.numel() for p in model.parameters() if p.requires_grad))
