# A small Vision Transformer as in ViT-from-scratch tutorials: patch embedding with a
# strided Conv2d and flatten(2).transpose(1, 2) (checked against F.unfold), a learnable
# cls token and position embedding (nn.Parameter(torch.zeros(...)) + trunc_normal_
# replaced by a fixed fill), expand of the cls token over the batch,
# nn.TransformerEncoder(batch_first=True, norm_first=True, activation="gelu"), the head
# on the cls output, AdamW with a warmup-cosine LambdaLR, and attention weights from
# nn.MultiheadAttention with need_weights / average_attn_weights.
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class PatchEmbed(nn.Module):
    def __init__(self, img_size=8, patch_size=4, in_chans=3, embed_dim=12):
        super().__init__()
        self.num_patches = (img_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class ViT(nn.Module):
    def __init__(self, num_classes=3, embed_dim=12, depth=2, num_heads=3):
        super().__init__()
        self.patch_embed = PatchEmbed(embed_dim=embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.num_patches + 1, embed_dim))
        layer = nn.TransformerEncoderLayer(
            embed_dim,
            num_heads,
            dim_feedforward=24,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, depth, norm=nn.LayerNorm(embed_dim), enable_nested_tensor=False
        )
        self.head = nn.Linear(embed_dim, num_classes)

    def forward(self, x):
        x = self.patch_embed(x)
        cls_tokens = self.cls_token.expand(x.shape[0], -1, -1)
        x = torch.cat((cls_tokens, x), dim=1) + self.pos_embed
        x = self.encoder(x)
        return self.head(x[:, 0])


model = ViT()
with torch.no_grad():
    for i, (name, p) in enumerate(model.named_parameters()):
        if "norm" not in name:
            p.copy_(
                torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.41 + i).reshape(p.shape)
                * 0.2
            )
images = torch.linspace(0, 1, 4 * 3 * 8 * 8).reshape(4, 3, 8, 8).cos()
labels = torch.tensor([0, 1, 2, 1])
tokens = model.patch_embed(images)
unfolded = F.unfold(images, kernel_size=4, stride=4).transpose(1, 2)
w = model.patch_embed.proj.weight.reshape(12, -1)
print(
    "patch embed equals unfold @ W:",
    torch.allclose(tokens, unfolded @ w.T + model.patch_embed.proj.bias, atol=1e-5),
)
print("tokens:", list(tokens.shape), "layers:", len(model.encoder.layers))
warmup, total = 2, 8
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.05)


def lr_lambda(step):
    if step < warmup:
        return float(step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
for step in range(total):
    logits = model(images)
    loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    scheduler.step()
    print("step", step, round(loss.item(), 5), round(scheduler.get_last_lr()[0], 7))
model.eval()
with torch.no_grad():
    print("pred:", model(images).argmax(-1).tolist())
mha = nn.MultiheadAttention(12, 3, batch_first=True)
with torch.no_grad():
    for i, p in enumerate(mha.parameters()):
        p.copy_(
            torch.cos(torch.arange(p.numel(), dtype=torch.float32) * 0.3 + i).reshape(p.shape) * 0.2
        )
q = torch.linspace(-1, 1, 2 * 5 * 12).reshape(2, 5, 12)
out, weights = mha(q, q, q, need_weights=True)
_, per_head = mha(q, q, q, need_weights=True, average_attn_weights=False)
print(
    "attn weights:",
    list(weights.shape),
    list(per_head.shape),
    torch.allclose(per_head.mean(1), weights, atol=1e-6),
)
print("attn row:", weights[0, 0].detach().numpy().round(5).tolist())
