# Fine-tuning idioms from real training code: freezing a "backbone" by name prefix with
# requires_grad_(False), counting trainable parameters, optimizer param groups with a
# smaller lr for the backbone and no weight decay for biases / norms (chosen with
# named_parameters filters), unfreezing later with optimizer.add_param_group, keeping
# frozen BatchNorm layers in eval mode, and checking which weights actually moved.
import torch
import torch.nn as nn


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.Conv2d(4, 6, 3, padding=1),
            nn.BatchNorm2d(6),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.neck = nn.Linear(6, 6)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        return self.head(torch.relu(self.neck(self.backbone(x))))


model = Model()
with torch.no_grad():
    for i, (name, p) in enumerate(model.named_parameters()):
        k = torch.arange(p.numel(), dtype=torch.float32)
        p.copy_(
            torch.cos(k * 0.41 + i).view_as(p) * 0.3
            + (1.0 if "1.weight" in name or "4.weight" in name else 0.0)
        )
initial = {k: v.clone() for k, v in model.state_dict().items()}

for name, param in model.named_parameters():
    if name.startswith("backbone."):
        param.requires_grad_(False)
trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
total = sum(p.numel() for p in model.parameters())
print("trainable:", trainable, "of", total)
print("trainable names:", [n for n, p in model.named_parameters() if p.requires_grad])

decay, no_decay = [], []
for name, param in model.named_parameters():
    if not param.requires_grad:
        continue
    (no_decay if name.endswith(".bias") or param.ndim == 1 else decay).append(param)
optimizer = torch.optim.AdamW(
    [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-2
)
print(
    "groups:",
    [len(g["params"]) for g in optimizer.param_groups],
    [g["weight_decay"] for g in optimizer.param_groups],
)


def set_bn_eval(m):
    if isinstance(m, nn.BatchNorm2d):
        m.eval()


x = torch.linspace(-1, 1, 4 * 3 * 6 * 6).view(4, 3, 6, 6)
y = torch.tensor([0, 1, 2, 1])
criterion = nn.CrossEntropyLoss()
model.train()
model.apply(set_bn_eval)
print("bn training:", model.backbone[1].training, "head training:", model.head.training)
for step in range(5):
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    print("frozen step", step, "loss:", round(loss.item(), 6))
print("backbone grads:", [p.grad for p in model.backbone.parameters()][:2])
moved = [k for k, v in model.state_dict().items() if not torch.equal(v, initial[k])]
print("moved:", moved)

# unfreeze the last conv block with a smaller learning rate
for name, param in model.backbone.named_parameters():
    if name.startswith(("3.", "4.")):
        param.requires_grad_(True)
optimizer.add_param_group(
    {
        "params": [p for n, p in model.backbone.named_parameters() if n.startswith(("3.", "4."))],
        "lr": 1e-3,
        "weight_decay": 0.0,
    }
)
print(
    "groups after:",
    len(optimizer.param_groups),
    optimizer.param_groups[2]["lr"],
    optimizer.param_groups[2]["betas"],
)
for step in range(3):
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    print("unfrozen step", step, "loss:", round(loss.item(), 6))
moved = [k for k, v in model.state_dict().items() if not torch.equal(v, initial[k])]
print("moved after:", moved)
