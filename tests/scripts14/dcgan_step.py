# The DCGAN tutorial's Generator and Discriminator (ConvTranspose2d, BatchNorm2d, ReLU,
# LeakyReLU, Tanh, Sigmoid), weights_init via model.apply, BCELoss, two Adam optimizers,
# and a few training iterations on random "real" 16x16 images.
import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

manualSeed = 999
torch.manual_seed(manualSeed)
torch.use_deterministic_algorithms(True)
device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")

nc = 3  # channels
nz = 8  # latent vector size
ngf = 8
ndf = 8
lr = 0.0002
beta1 = 0.5


def weights_init(m):
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


class Generator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, input):
        return self.main(input)


class Discriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, input):
        return self.main(input)


netG = Generator().to(device)
netG.apply(weights_init)
netD = Discriminator().to(device)
netD.apply(weights_init)
print(netG)
print(netD)
w = netG.main[0].weight
print(
    "rng weights_init std near 0.02:",
    round(w.std().item(), 2),
    netG.main[1].bias.abs().sum().item(),
)


def deterministic_init(model, seed):
    # the tutorial's weights_init, with the random draws from NumPy so that the numbers
    # below agree between frameworks
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for m in model.modules():
            name = m.__class__.__name__
            if name.find("Conv") != -1:
                m.weight.copy_(
                    torch.from_numpy(
                        rng.normal(0.0, 0.02, tuple(m.weight.shape)).astype(np.float32)
                    )
                )
            elif name.find("BatchNorm") != -1:
                m.weight.copy_(
                    torch.from_numpy(
                        rng.normal(1.0, 0.02, tuple(m.weight.shape)).astype(np.float32)
                    )
                )
                m.bias.zero_()


deterministic_init(netG, 1)
deterministic_init(netD, 2)

criterion = nn.BCELoss()
rng = np.random.default_rng(0)
fixed_noise = torch.from_numpy(rng.standard_normal((4, nz, 1, 1)).astype(np.float32)).to(device)
real_label = 1.0
fake_label = 0.0
optimizerD = optim.Adam(netD.parameters(), lr=lr, betas=(beta1, 0.999))
optimizerG = optim.Adam(netG.parameters(), lr=lr, betas=(beta1, 0.999))

G_losses = []
D_losses = []
batch_size = 6
for i in range(4):
    real_cpu = torch.from_numpy(
        np.tanh(rng.standard_normal((batch_size, nc, 16, 16))).astype(np.float32)
    ).to(device)
    noise = torch.from_numpy(rng.standard_normal((batch_size, nz, 1, 1)).astype(np.float32)).to(
        device
    )
    # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
    netD.zero_grad()
    b_size = real_cpu.size(0)
    label = torch.full((b_size,), real_label, dtype=torch.float, device=device)
    output = netD(real_cpu).view(-1)
    errD_real = criterion(output, label)
    errD_real.backward()
    D_x = output.mean().item()
    fake = netG(noise)
    label.fill_(fake_label)
    output = netD(fake.detach()).view(-1)
    errD_fake = criterion(output, label)
    errD_fake.backward()
    D_G_z1 = output.mean().item()
    errD = errD_real + errD_fake
    optimizerD.step()
    # (2) Update G network: maximize log(D(G(z)))
    netG.zero_grad()
    label.fill_(real_label)
    output = netD(fake).view(-1)
    errG = criterion(output, label)
    errG.backward()
    D_G_z2 = output.mean().item()
    optimizerG.step()
    print(
        f"[{i}] Loss_D: {errD.item():.4f} Loss_G: {errG.item():.4f} "
        f"D(x): {D_x:.4f} D(G(z)): {D_G_z1:.4f} / {D_G_z2:.4f}"
    )
    G_losses.append(errG.item())
    D_losses.append(errD.item())

with torch.no_grad():
    fake = netG(fixed_noise).detach().cpu()
print("fake:", list(fake.shape), round(fake.mean().item(), 5), round(fake.abs().max().item(), 5))
print("in tanh range:", bool(fake.abs().max() <= 1))
print(
    "running stats:",
    netG.main[1].running_mean[:3].numpy().round(6).tolist(),
    netG.main[1].running_var[:3].numpy().round(6).tolist(),
)
netG.eval()
with torch.no_grad():
    print("eval-mode fake mean:", round(netG(fixed_noise).mean().item(), 5))
