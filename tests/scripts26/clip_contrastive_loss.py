# CLIP's contrastive objective as in the paper's pseudocode and open_clip: image and text
# projections L2-normalised with F.normalize, a learnable logit_scale initialised to
# log(1 / 0.07) and clamped to 100 after exp, logits_per_image = scale * img @ txt.T,
# symmetric cross-entropy with labels arange(N), zero-shot accuracy in both directions,
# and a few AdamW steps (with logit_scale excluded from weight decay).
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class TinyCLIP(nn.Module):
    def __init__(self, img_dim=6, txt_dim=5, embed_dim=4):
        super().__init__()
        self.visual = nn.Sequential(nn.Linear(img_dim, 8), nn.GELU(), nn.Linear(8, embed_dim))
        self.text = nn.Sequential(nn.Linear(txt_dim, 8), nn.Tanh(), nn.Linear(8, embed_dim))
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))

    def forward(self, images, texts):
        image_features = F.normalize(self.visual(images), dim=-1)
        text_features = F.normalize(self.text(texts), dim=-1)
        logit_scale = self.logit_scale.exp().clamp(max=100)
        logits_per_image = logit_scale * image_features @ text_features.t()
        return logits_per_image, logits_per_image.t()


model = TinyCLIP()
with torch.no_grad():
    for i, (name, p) in enumerate(model.named_parameters()):
        if name != "logit_scale":
            p.copy_(
                torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.43 + i).view_as(p) * 0.5
            )
print("logit_scale:", model.logit_scale.item(), model.logit_scale.shape)
N = 6
images = torch.cos(torch.arange(N * 6, dtype=torch.float32) * 0.7).view(N, 6)
texts = torch.sin(torch.arange(N * 5, dtype=torch.float32) * 0.9).view(N, 5)
labels = torch.arange(N)


def clip_loss(logits_per_image, logits_per_text):
    return (
        F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)
    ) / 2


decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
opt = torch.optim.AdamW(
    [{"params": decay, "weight_decay": 0.2}, {"params": no_decay, "weight_decay": 0.0}],
    lr=5e-2,
    betas=(0.9, 0.98),
    eps=1e-6,
)
for step in range(8):
    lpi, lpt = model(images, texts)
    loss = clip_loss(lpi, lpt)
    opt.zero_grad()
    loss.backward()
    opt.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, math.log(100))
    print("step", step, "loss:", round(loss.item(), 5))
with torch.no_grad():
    lpi, lpt = model(images, texts)
print("i2t acc:", (lpi.argmax(dim=1) == labels).float().mean().item())
print("t2i acc:", (lpt.argmax(dim=1) == labels).float().mean().item())
print("probs row 0:", lpi.softmax(dim=-1)[0])
print("scale now:", round(model.logit_scale.exp().item(), 4))
