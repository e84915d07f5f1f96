# einops-style rearranges written by hand with view / permute / reshape / flatten /
# unflatten / movedim / einsum, as people port einops code to plain PyTorch: patchify an
# image and undo it, split / merge attention heads, space-to-depth, channel shuffle,
# "b n (h d) -> b h n d", repeat / tile, and reduce (mean over groups).
import numpy as np
import torch

img = torch.from_numpy(np.arange(2 * 3 * 4 * 6, dtype=np.float32).reshape(2, 3, 4, 6))
p = 2
b, c, h, w = img.shape
# "b c (h p1) (w p2) -> b (h w) (p1 p2 c)"
patches = (
    img.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1).reshape(b, -1, p * p * c)
)
print("patches:", patches.shape, patches[0, 1, :6].tolist(), patches[1, -1, -3:].tolist())
back = patches.reshape(b, h // p, w // p, p, p, c).permute(0, 5, 1, 3, 2, 4).reshape(b, c, h, w)
print("round trip:", torch.equal(back, img))
# unfold does the same
unf = torch.nn.functional.unfold(img, kernel_size=p, stride=p)
print("unfold:", unf.shape, unf[0, :, 0].tolist()[:6])
x = torch.arange(2 * 5 * 12, dtype=torch.float32).reshape(2, 5, 12)
heads = 3
split = x.view(2, 5, heads, 4).transpose(1, 2)
print("split heads:", split.shape, split.is_contiguous(), split[1, 2, 0].tolist())
merged = split.transpose(1, 2).contiguous().view(2, 5, 12)
print("merge heads:", torch.equal(merged, x))
merged2 = split.transpose(1, 2).reshape(2, 5, -1)
print("merge reshape:", torch.equal(merged2, x))
via_unflatten = x.unflatten(-1, (heads, 4)).movedim(2, 1)
print("unflatten/movedim:", torch.equal(via_unflatten, split))
s2d = (
    img.view(b, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4).reshape(b, c * 4, h // 2, w // 2)
)
print("space to depth:", s2d.shape, s2d[0, :, 0, 0].tolist())
print("pixel_unshuffle:", torch.nn.functional.pixel_unshuffle(img, 2).shape)
groups = 3
ch = torch.arange(6.0).view(1, 6, 1, 1)
shuffled = ch.view(1, groups, 2, 1, 1).transpose(1, 2).reshape(1, 6, 1, 1)
print("channel shuffle:", shuffled.flatten().tolist())
print("channel_shuffle op:", torch.nn.functional.channel_shuffle(ch, groups).flatten().tolist())
print("repeat:", torch.tensor([1, 2]).repeat(2, 3).tolist())
print("repeat_interleave:", torch.tensor([1, 2]).repeat_interleave(3).tolist())
print("tile:", torch.tile(torch.tensor([[1, 2]]), (2, 1)).tolist())
print("expand b:", torch.tensor([1.0, 2.0])[None, :, None].expand(3, -1, 2).shape)
red = x.view(2, 5, 3, 4).mean(-1)
print("reduce mean:", red.shape, red[0, 0].tolist())
print("einsum bhnd,bhmd->bhnm:", torch.einsum("bhnd,bhmd->bhnm", split, split).shape)
print(
    "einsum trace/diag:",
    torch.einsum("ii->", torch.eye(3) * 2).item(),
    torch.einsum("ii->i", torch.arange(9.0).view(3, 3)).tolist(),
)
print("einsum outer:", torch.einsum("i,j->ij", torch.arange(3.0), torch.arange(2.0)).tolist())
print(
    "einsum batch matmul:",
    torch.einsum("bij,bjk->bik", torch.ones(2, 2, 3), torch.ones(2, 3, 1)).flatten().tolist(),
)
print("einsum ellipsis:", torch.einsum("...ij->...ji", torch.zeros(4, 2, 3)).shape)
print("stack/cat:", torch.stack([x, x], dim=1).shape, torch.cat([x, x], dim=-1).shape)
print("chunk:", [t.shape for t in x.chunk(3, dim=-1)], [t.shape for t in x.split([5, 7], dim=-1)])
print("unbind:", len(x.unbind(1)), x.unbind(1)[0].shape)
print("flip/roll:", torch.arange(4).flip(0).tolist(), torch.arange(4).roll(1).tolist())
