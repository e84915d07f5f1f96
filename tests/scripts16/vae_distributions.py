# pytorch/examples "vae": the VAE (fc1 -> mu / logvar, reparameterize, decode with
# sigmoid), loss_function (binary_cross_entropy with reduction='sum' + the KL term), a
# few Adam steps with the noise drawn from a fixed NumPy stream; then the same model with
# torch.distributions as users write it (Normal.rsample / log_prob, kl_divergence against
# the standard normal, Independent, MultivariateNormal, Bernoulli(logits=...),
# Categorical entropy, OneHotCategorical, mixture sampling shapes).
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.distributions import (
    Bernoulli,
    Categorical,
    Independent,
    MultivariateNormal,
    Normal,
    OneHotCategorical,
    kl_divergence,
)

rng = np.random.default_rng(15)
device = torch.device("cpu")


class VAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc21 = nn.Linear(32, 4)
        self.fc22 = nn.Linear(32, 4)
        self.fc3 = nn.Linear(4, 32)
        self.fc4 = nn.Linear(32, 64)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar, eps):
        std = torch.exp(0.5 * logvar)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x, eps):
        mu, logvar = self.encode(x.view(-1, 64))
        z = self.reparameterize(mu, logvar, eps)
        return self.decode(z), mu, logvar


def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 64), reduction="sum")
    # see Appendix B from VAE paper:
    # Kingma and Welling. Auto-Encoding Variational Bayes. ICLR, 2014
    # 0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2)
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


model = VAE().to(device)
with torch.no_grad():
    for p in model.parameters():
        p.copy_(torch.from_numpy(rng.uniform(-0.2, 0.2, tuple(p.shape)).astype(np.float32)))
optimizer = optim.Adam(model.parameters(), lr=1e-3)
data = torch.from_numpy((rng.uniform(0, 1, (16, 1, 8, 8)) > 0.6).astype(np.float32))
model.train()
for epoch in range(1, 4):
    train_loss = 0
    for batch_idx in range(2):
        batch = data[batch_idx * 8 : (batch_idx + 1) * 8]
        eps = torch.from_numpy(rng.standard_normal((8, 4)).astype(np.float32))
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(batch, eps)
        loss = loss_function(recon_batch, batch, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
    print(f"====> Epoch: {epoch} Average loss: {train_loss / len(data):.4f}")
model.eval()
with torch.no_grad():
    sample = model.decode(torch.from_numpy(rng.standard_normal((2, 4)).astype(np.float32)))
print("decoded sample:", list(sample.view(2, 1, 8, 8).shape), round(sample.sum().item(), 4))

# the same model with torch.distributions
with torch.no_grad():
    mu, logvar = model.encode(data.view(-1, 64)[:4])
q = Normal(mu, torch.exp(0.5 * logvar))
p = Normal(torch.zeros_like(mu), torch.ones_like(mu))
kl = kl_divergence(q, p).sum(-1)
manual = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)
print("kl_divergence:", kl.numpy().round(5).tolist(), torch.allclose(kl, manual, atol=1e-5))
z = q.rsample()
print("rng rsample:", list(z.shape), z.requires_grad)
print("log_prob:", q.log_prob(mu).sum().item().__round__(4), q.entropy().sum().item().__round__(4))
qi = Independent(q, 1)
print(
    "Independent:",
    list(qi.batch_shape),
    list(qi.event_shape),
    qi.log_prob(mu).numpy().round(4).tolist(),
)
print("Independent kl:", kl_divergence(qi, Independent(p, 1)).numpy().round(5).tolist())
recon = model.decode(mu)
bern = Bernoulli(probs=recon)
print("Bernoulli log_prob:", round(bern.log_prob(data.view(-1, 64)[:4]).sum().item(), 4))
logits_bern = Bernoulli(logits=torch.tensor([0.0, 2.0, -1.0]))
print(
    "Bernoulli logits:",
    logits_bern.probs.numpy().round(5).tolist(),
    logits_bern.mean.numpy().round(5).tolist(),
)
mvn = MultivariateNormal(torch.zeros(2), covariance_matrix=torch.tensor([[2.0, 0.5], [0.5, 1.0]]))
print(
    "MVN log_prob:",
    round(mvn.log_prob(torch.tensor([0.5, -0.5])).item(), 5),
    round(mvn.entropy().item(), 5),
)
print("MVN scale_tril:", mvn.scale_tril.numpy().round(5).tolist())
print("rng MVN sample:", list(mvn.sample((3,)).shape))
cat = Categorical(logits=torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]))
print("Categorical:", cat.probs.numpy().round(5).tolist(), cat.entropy().numpy().round(5).tolist())
print("Categorical log_prob:", cat.log_prob(torch.tensor([2, 0])).numpy().round(5).tolist())
print("rng Categorical sample:", list(cat.sample((5,)).shape))
oh = OneHotCategorical(probs=torch.tensor([0.2, 0.3, 0.5]))
print(
    "OneHot:",
    list(oh.sample((4,)).shape),
    round(oh.log_prob(torch.tensor([0.0, 0.0, 1.0])).item(), 5),
)
print(
    "Normal cdf / icdf:",
    round(Normal(0.0, 1.0).cdf(torch.tensor(1.0)).item(), 5),
    round(Normal(0.0, 1.0).icdf(torch.tensor(0.975)).item(), 5),
)
print(
    "kl Categorical:",
    round(kl_divergence(cat, Categorical(probs=torch.ones(2, 3) / 3)).sum().item(), 5),
)
