# WGAN-GP (the "Improved Training of Wasserstein GANs" recipe as commonly written in
# PyTorch): a critic without sigmoid, a generator, RMSprop / Adam with betas=(0.5, 0.9),
# the gradient penalty via torch.autograd.grad(create_graph=True, retain_graph=True,
# grad_outputs=ones) on random interpolates, n_critic critic steps per generator step,
# and a conditional variant that concatenates an nn.Embedding of the labels.
import numpy as np
import torch
import torch.autograd as autograd
import torch.nn as nn

rng = np.random.default_rng(7)
latent_dim, data_dim, n_classes = 4, 6, 3
lambda_gp = 10
n_critic = 3


def fill_(module, scale=0.3, offset=0.0):
    with torch.no_grad():
        for i, p in enumerate(module.parameters()):
            p.copy_(
                torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.53 + i + offset).reshape(
                    p.shape
                )
                * scale
            )


class Generator(nn.Module):
    def __init__(self, cond=False):
        super().__init__()
        self.cond = cond
        self.label_emb = nn.Embedding(n_classes, n_classes) if cond else None
        in_dim = latent_dim + (n_classes if cond else 0)
        self.model = nn.Sequential(
            nn.Linear(in_dim, 16),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(16, 16),
            nn.BatchNorm1d(16, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(16, data_dim),
            nn.Tanh(),
        )

    def forward(self, z, labels=None):
        if self.cond:
            z = torch.cat((self.label_emb(labels), z), -1)
        return self.model(z)


class Discriminator(nn.Module):
    def __init__(self, cond=False):
        super().__init__()
        self.cond = cond
        self.label_embedding = nn.Embedding(n_classes, n_classes) if cond else None
        in_dim = data_dim + (n_classes if cond else 0)
        self.model = nn.Sequential(
            nn.Linear(in_dim, 16),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(16, 8),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(8, 1),
        )

    def forward(self, x, labels=None):
        if self.cond:
            x = torch.cat((x, self.label_embedding(labels)), -1)
        return self.model(x)


def compute_gradient_penalty(D, real_samples, fake_samples, alpha, labels=None):
    interpolates = (alpha * real_samples + ((1 - alpha) * fake_samples)).requires_grad_(True)
    d_interpolates = D(interpolates, labels)
    fake = torch.ones(real_samples.shape[0], 1, requires_grad=False)
    gradients = autograd.grad(
        outputs=d_interpolates,
        inputs=interpolates,
        grad_outputs=fake,
        create_graph=True,
        retain_graph=True,
        only_inputs=True,
    )[0]
    gradients = gradients.view(gradients.size(0), -1)
    return ((gradients.norm(2, dim=1) - 1) ** 2).mean()


for cond in (False, True):
    generator, discriminator = Generator(cond), Discriminator(cond)
    fill_(generator, 0.4)
    fill_(discriminator, 0.4, offset=2.0)
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=1e-3, betas=(0.5, 0.9))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=1e-3, betas=(0.5, 0.9))
    for i in range(6):
        real_imgs = torch.from_numpy(rng.standard_normal((8, data_dim)).astype(np.float32)).tanh()
        labels = torch.from_numpy(rng.integers(0, n_classes, 8)) if cond else None
        optimizer_D.zero_grad()
        z = torch.from_numpy(rng.standard_normal((8, latent_dim)).astype(np.float32))
        fake_imgs = generator(z, labels)
        real_validity = discriminator(real_imgs, labels)
        fake_validity = discriminator(fake_imgs, labels)
        alpha = torch.from_numpy(rng.random((8, 1)).astype(np.float32))
        gradient_penalty = compute_gradient_penalty(
            discriminator, real_imgs.data, fake_imgs.data, alpha, labels
        )
        d_loss = (
            -torch.mean(real_validity) + torch.mean(fake_validity) + lambda_gp * gradient_penalty
        )
        d_loss.backward()
        optimizer_D.step()
        optimizer_G.zero_grad()
        if i % n_critic == 0:
            fake_imgs = generator(z, labels)
            fake_validity = discriminator(fake_imgs, labels)
            g_loss = -torch.mean(fake_validity)
            g_loss.backward()
            optimizer_G.step()
            print(
                f"[cond {cond}] [iter {i}] [D loss: {d_loss.item():.5f}] "
                f"[GP: {gradient_penalty.item():.5f}] [G loss: {g_loss.item():.5f}]"
            )
    generator.eval()
    with torch.no_grad():
        sample = generator(
            torch.linspace(-1, 1, 2 * latent_dim).reshape(2, latent_dim),
            torch.tensor([0, 2]) if cond else None,
        )
    print("sample:", sample.numpy().round(4).tolist())

# the penalty's own gradient (double backward through LeakyReLU and norm)
D = Discriminator()
fill_(D, 0.5)
real = torch.linspace(-1, 1, 18).reshape(3, 6)
fake = torch.linspace(1, -0.5, 18).reshape(3, 6)
gp = compute_gradient_penalty(D, real, fake, torch.full((3, 1), 0.3))
gp.backward()
print("gp:", round(gp.item(), 5))
print(
    "d grad norms:",
    [0.0 if p.grad is None else round(p.grad.norm().item(), 5) for p in D.parameters()],
)
# PyTorch's double backward through LeakyReLU reaches the hidden biases (a zero gradient)
print("d grad is None:", [p.grad is None for p in D.parameters()])
