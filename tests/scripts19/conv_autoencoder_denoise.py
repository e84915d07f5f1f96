# A convolutional denoising autoencoder as in the autoencoder tutorials: Conv2d / MaxPool2d
# encoder, ConvTranspose2d (stride 2) and Upsample decoder variants, noise added in NumPy
# and clipped with torch.clip, MSELoss and BCELoss on sigmoid outputs, Adam with
# weight_decay, the latent code's shape, and reconstruction PSNR.
import math

import numpy as np
import torch
import torch.nn as nn

rng = np.random.default_rng(11)
clean = np.zeros((6, 1, 8, 8), dtype=np.float32)
for i in range(6):
    clean[i, 0, i % 4 : i % 4 + 4, 2:6] = 1.0
clean_t = torch.from_numpy(clean)
noise_factor = 0.3
noisy = torch.clip(
    clean_t + noise_factor * torch.from_numpy(rng.standard_normal(clean.shape).astype(np.float32)),
    0.0,
    1.0,
)
print("noisy stats:", round(noisy.mean().item(), 5), round(noisy.std().item(), 5))


class ConvAutoencoder(nn.Module):
    def __init__(self, upsample=False):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(4, 2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2, 2),
        )
        if upsample:
            self.decoder = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(2, 4, 3, padding=1),
                nn.ReLU(),
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(4, 1, 3, padding=1),
                nn.Sigmoid(),
            )
        else:
            self.decoder = nn.Sequential(
                nn.ConvTranspose2d(2, 4, 2, stride=2),
                nn.ReLU(),
                nn.ConvTranspose2d(4, 1, 2, stride=2),
                nn.Sigmoid(),
            )

    def forward(self, x):
        return self.decoder(self.encoder(x))


for upsample in (False, True):
    for loss_name, criterion in (("mse", nn.MSELoss()), ("bce", nn.BCELoss())):
        model = ConvAutoencoder(upsample)
        with torch.no_grad():
            for i, p in enumerate(model.parameters()):
                p.copy_(
                    torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.9 + i).reshape(
                        p.shape
                    )
                    * 0.5
                )
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-5)
        for _epoch in range(8):
            outputs = model(noisy)
            loss = criterion(outputs, clean_t)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            code = model.encoder(noisy)
            recon = model(noisy)
            mse = torch.mean((recon - clean_t) ** 2).item()
        psnr = 10 * math.log10(1.0 / mse)
        print(
            f"upsample={upsample} {loss_name}: loss {loss.item():.5f} "
            f"code {list(code.shape)} psnr {psnr:.4f}"
        )
