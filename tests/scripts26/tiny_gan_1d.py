# A minimal GAN on 1-D data as in introductory GAN tutorials (before DCGAN): real samples
# from N(4, 1.25) drawn in NumPy, a generator and discriminator of Linear + ELU /
# Sigmoid, nn.BCELoss with real / fake labels (torch.ones / torch.zeros), the
# discriminator step on fake.detach(), the generator step trying to fool it, and the
# moments of generated data (deterministic noise from NumPy too).
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

rng = np.random.default_rng(0)


class Generator(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.map1 = nn.Linear(input_size, hidden_size)
        self.map2 = nn.Linear(hidden_size, hidden_size)
        self.map3 = nn.Linear(hidden_size, output_size)
        self.f = nn.ELU()

    def forward(self, x):
        return self.map3(self.f(self.map2(self.f(self.map1(x)))))


class Discriminator(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.map1 = nn.Linear(input_size, hidden_size)
        self.map2 = nn.Linear(hidden_size, hidden_size)
        self.map3 = nn.Linear(hidden_size, output_size)
        self.f = nn.ELU()

    def forward(self, x):
        x = self.f(self.map1(x))
        x = self.f(self.map2(x))
        return torch.sigmoid(self.map3(x))


def fill(model, phase):
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            k = torch.arange(p.numel(), dtype=torch.float32)
            p.copy_(torch.sin(k * 0.53 + i * 1.1 + phase).view_as(p) * 0.4)


G = Generator(1, 8, 1)
D = Discriminator(4, 8, 1)
fill(G, 0.0)
fill(D, 1.0)
criterion = nn.BCELoss()
d_optimizer = optim.SGD(D.parameters(), lr=1e-2, momentum=0.9)
g_optimizer = optim.SGD(G.parameters(), lr=1e-2, momentum=0.9)
batch = 16
for epoch in range(40):
    real = torch.from_numpy(rng.normal(4.0, 1.25, (batch, 4)).astype(np.float32))
    noise = torch.from_numpy(rng.uniform(0, 1, (batch * 4, 1)).astype(np.float32))
    D.zero_grad()
    d_real_decision = D(real)
    d_real_error = criterion(d_real_decision, torch.ones(batch, 1))
    d_real_error.backward()
    d_fake_data = G(noise).detach().view(batch, 4)
    d_fake_decision = D(d_fake_data)
    d_fake_error = criterion(d_fake_decision, torch.zeros(batch, 1))
    d_fake_error.backward()
    d_optimizer.step()

    G.zero_grad()
    gen_input = torch.from_numpy(rng.uniform(0, 1, (batch * 4, 1)).astype(np.float32))
    g_fake_data = G(gen_input).view(batch, 4)
    dg_fake_decision = D(g_fake_data)
    g_error = criterion(dg_fake_decision, torch.ones(batch, 1))
    g_error.backward()
    g_optimizer.step()
    if epoch % 10 == 9:
        print(
            "epoch",
            epoch,
            "D:",
            round(d_real_error.item(), 4),
            round(d_fake_error.item(), 4),
            "G:",
            round(g_error.item(), 4),
        )
with torch.no_grad():
    sample = G(torch.linspace(0, 1, 64).view(-1, 1))
print("generated mean / std:", round(sample.mean().item(), 4), round(sample.std().item(), 4))
print(
    "grads cleared by detach:",
    all(p.grad is None or p.grad.abs().sum() >= 0 for p in G.parameters()),
)
