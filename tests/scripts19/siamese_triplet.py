# pytorch/examples "siamese_network" and metric learning idioms: a shared embedding net
# applied to two inputs, the pair's features concatenated into a BCELoss head, contrastive
# loss written by hand with F.pairwise_distance and clamp, nn.TripletMarginLoss and
# TripletMarginWithDistanceLoss with a cosine distance, and nearest-neighbour retrieval
# with torch.cdist / topk(largest=False).
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

rng = np.random.default_rng(21)


class SiameseNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(2)
        )
        self.fc = nn.Sequential(nn.Linear(16, 8), nn.ReLU(inplace=True), nn.Linear(8, 4))
        self.head = nn.Sequential(nn.Linear(8, 1), nn.Sigmoid())

    def forward_once(self, x):
        output = self.cnn(x)
        output = output.view(output.size()[0], -1)
        return self.fc(output)

    def forward(self, input1, input2):
        output1 = self.forward_once(input1)
        output2 = self.forward_once(input2)
        output = torch.cat((output1, output2), 1)
        return self.head(output), output1, output2


def contrastive_loss(output1, output2, label, margin=2.0):
    euclidean_distance = F.pairwise_distance(output1, output2, keepdim=True)
    return torch.mean(
        (1 - label) * torch.pow(euclidean_distance, 2)
        + label * torch.pow(torch.clamp(margin - euclidean_distance, min=0.0), 2)
    )


model = SiameseNetwork()
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(
            torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.61 + i).reshape(p.shape)
            * 0.5
        )
x1 = torch.from_numpy(rng.standard_normal((6, 1, 7, 7)).astype(np.float32))
x2 = torch.from_numpy(rng.standard_normal((6, 1, 7, 7)).astype(np.float32))
targets = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 0.0]).unsqueeze(1)
criterion = nn.BCELoss()
optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
for epoch in range(4):
    model.train()
    optimizer.zero_grad()
    outputs, o1, o2 = model(x1, x2)
    loss = criterion(outputs, targets) + 0.1 * contrastive_loss(o1, o2, targets)
    loss.backward()
    optimizer.step()
    scheduler.step()
    print(f"epoch {epoch} loss {loss.item():.6f} lr {scheduler.get_last_lr()[0]:.4f}")
model.eval()
with torch.no_grad():
    outputs, _, _ = model(x1, x2)
    pred = torch.where(outputs > 0.5, 1, 0)
print(
    "pred:",
    pred.view(-1).tolist(),
    "running_mean:",
    model.cnn[1].running_mean.numpy().round(5).tolist(),
)

anchor = torch.linspace(-1, 1, 24).reshape(6, 4).requires_grad_(True)
positive = anchor.detach() + 0.1 * torch.cos(torch.arange(24.0)).reshape(6, 4)
negative = torch.flip(anchor.detach(), [0])
triplet = nn.TripletMarginLoss(margin=1.0, p=2)
out = triplet(anchor, positive, negative)
out.backward()
print("triplet:", round(out.item(), 6), anchor.grad.numpy().round(5)[0].tolist())
cos_triplet = nn.TripletMarginWithDistanceLoss(
    distance_function=lambda a, b: 1.0 - F.cosine_similarity(a, b), margin=0.5
)
print("cosine triplet:", round(cos_triplet(anchor, positive, negative).item(), 6))
print(
    "swap triplet:",
    round(nn.TripletMarginLoss(margin=1.0, swap=True)(anchor, positive, negative).item(), 6),
)

gallery = torch.linspace(0, 2, 20).reshape(5, 4).cos()
queries = gallery[[3, 1]] + 0.01
dist = torch.cdist(queries, gallery)
values, indices = dist.topk(2, dim=1, largest=False)
print("retrieval:", indices.tolist(), values.numpy().round(5).tolist())
