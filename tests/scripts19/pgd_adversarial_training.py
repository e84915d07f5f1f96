# Projected gradient descent attacks and adversarial training (the Madry et al. recipe as
# written after the FGSM tutorial): an L-inf PGD loop with a random start drawn in NumPy,
# x.grad.sign() steps, torch.clamp / torch.min / torch.max projection back into the
# epsilon ball and [0, 1], model.eval() vs train(), robust accuracy, and a few steps of
# training on the adversarial examples (requires_grad_ / detach idioms).
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

rng = np.random.default_rng(3)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.conv2 = nn.Conv2d(4, 6, 3)
        self.fc1 = nn.Linear(6 * 2 * 2, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(self.conv2(x))
        x = F.max_pool2d(x, 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)


model = Net()
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(
            torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.71 + i).reshape(p.shape)
            * 0.4
        )

images = torch.from_numpy(rng.random((10, 1, 14, 14)).astype(np.float32))
labels = torch.from_numpy(rng.integers(0, 3, 10))


def pgd_attack(model, images, labels, eps=0.1, alpha=0.02, iters=5, starts=None):
    ori_images = images.data
    if starts is not None:
        images = torch.clamp(images + starts, 0, 1)
    for _ in range(iters):
        images.requires_grad = True
        outputs = model(images)
        model.zero_grad()
        cost = F.nll_loss(outputs, labels)
        cost.backward()
        adv_images = images + alpha * images.grad.sign()
        eta = torch.clamp(adv_images - ori_images, min=-eps, max=eps)
        images = torch.clamp(ori_images + eta, min=0, max=1).detach_()
    return images


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


model.eval()
print("clean accuracy:", accuracy(model, images, labels))
for eps in [0.0, 0.05, 0.1, 0.2]:
    adv = pgd_attack(model, images.clone(), labels, eps=eps)
    delta = (adv - images).abs().max().item()
    print(f"eps {eps}: robust acc {accuracy(model, adv, labels):.2f} max |delta| {delta:.4f}")

starts = torch.from_numpy(rng.uniform(-0.05, 0.05, images.shape).astype(np.float32))
adv = pgd_attack(model, images.clone(), labels, eps=0.05, starts=starts)
print("random start delta within eps:", bool(((adv - images).abs() <= 0.05 + 1e-6).all()))

# an explicit projection with torch.min / torch.max as in many repos
x_adv = images + 0.3 * torch.sign(torch.sin(images * 50))
x_adv = torch.min(torch.max(x_adv, images - 0.1), images + 0.1).clamp(0, 1)
print("projected:", round((x_adv - images).abs().max().item(), 5), round(x_adv.sum().item(), 3))

optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
for epoch in range(3):
    model.eval()
    adv = pgd_attack(model, images.clone(), labels, eps=0.1, iters=3)
    model.train()
    optimizer.zero_grad()
    loss = 0.5 * F.nll_loss(model(images), labels) + 0.5 * F.nll_loss(model(adv), labels)
    loss.backward()
    optimizer.step()
    print("adv train", epoch, round(loss.item(), 5))
model.eval()
print(
    "after: clean",
    accuracy(model, images, labels),
    "robust",
    accuracy(model, pgd_attack(model, images.clone(), labels), labels),
)
