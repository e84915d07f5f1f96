# print(model) as every tutorial does: nested Sequential / ModuleList / ModuleDict, layers'
# extra_repr (Linear, Conv2d with stride/padding, BatchNorm, Dropout, LSTM, Embedding
# with padding_idx, activations with arguments), a custom module's extra_repr, repeated
# blocks collapsed ("3 x Linear"), Parameter repr, named_modules / named_children /
# named_parameters shapes, and parameter counts.
import numpy as np
import torch
from torch import nn


class Scale(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor
        self.weight = nn.Parameter(torch.ones(2))

    def extra_repr(self):
        return f"factor={self.factor}"

    def forward(self, x):
        return x * self.factor


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, kernel_size=3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Dropout2d(0.1),
        )
        self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
        self.heads = nn.ModuleDict({"cls": nn.Linear(4, 10), "reg": nn.Linear(4, 1, bias=False)})
        self.emb = nn.Embedding(100, 4, padding_idx=0)
        self.rnn = nn.LSTM(4, 8, num_layers=2, batch_first=True, dropout=0.2, bidirectional=True)
        self.act = nn.LeakyReLU(0.2)
        self.gelu = nn.GELU(approximate="tanh")
        self.norm = nn.LayerNorm(4, eps=1e-6)
        self.scale = Scale(0.5)
        self.flat = nn.Flatten()
        self.soft = nn.Softmax(dim=-1)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.identity = nn.Identity()


model = Net()
print(model)
print(repr(nn.Sequential()))
print(nn.Sequential(nn.Linear(2, 2), nn.Tanh()))
print(
    nn.Conv1d(4, 4, 3, dilation=2, groups=2),
    nn.ConvTranspose2d(4, 2, 2, stride=2),
    nn.AvgPool2d(3, stride=1, padding=1),
)
print(nn.AdaptiveAvgPool2d((1, 1)), nn.GroupNorm(2, 4), nn.InstanceNorm1d(3), nn.PReLU())
print(nn.GRU(3, 5), nn.RNN(3, 5, nonlinearity="relu"), nn.Hardtanh(-2, 2), nn.Threshold(0.1, 20))
print(nn.CrossEntropyLoss(label_smoothing=0.1), nn.MSELoss(), nn.Softplus(beta=2))
print(nn.MultiheadAttention(8, 2, batch_first=True))
p = nn.Parameter(torch.tensor([1.0, 2.0]))
print("param:", p)
print("param repr:", repr(nn.Parameter(torch.zeros(2, 2), requires_grad=False)))
print("children:", [name for name, _ in model.named_children()])
print("modules:", [name for name, _ in model.named_modules()][:12])
for name, param in model.named_parameters():
    if name.startswith(("blocks.0", "heads", "rnn.weight_ih_l1", "scale")):
        print("param", name, tuple(param.shape), param.requires_grad)
print("count:", sum(p.numel() for p in model.parameters()))
print("trainable:", sum(p.numel() for p in model.parameters() if p.requires_grad))
print("buffers:", [name for name, _ in model.named_buffers()])
print("sequential index:", model.features[0], model.features[-1], len(model.features))
print("slice:", model.features[1:3])
model.features.append(nn.Sigmoid())
print("appended:", len(model.features), model.features[-1])
lin = nn.Linear(3, 2)
with torch.no_grad():
    lin.weight.copy_(torch.from_numpy(np.arange(6, dtype=np.float32).reshape(2, 3) / 10))
    lin.bias.fill_(0.5)
print("weight:", lin.weight)
print("bias:", lin.bias)
print("state_dict:", lin.state_dict())
print("out:", lin(torch.ones(1, 3)))
