# "Tensor Views" (the tensor_view docs) and strides: view / reshape sharing storage,
# stride(), is_contiguous, transpose / permute / t / expand / narrow / unfold / diagonal,
# writes through a view, .contiguous() copies, view errors on non-contiguous tensors,
# unflatten, movedim, squeeze / unsqueeze (storage_offset, as_strided: known_gaps.py).
import torch

t = torch.rand(4, 4)
b = t.view(2, 8)
b[0][0] = 3.14
print("write through view:", round(t[0][0].item(), 4))

base = torch.tensor([[0, 1], [2, 3]])
print("base contiguous:", base.is_contiguous())
t = base.transpose(0, 1)
print("transposed contiguous:", t.is_contiguous(), t.stride())
c = t.contiguous()
print("contiguous copy:", c.is_contiguous(), c.stride(), c.tolist())

x = torch.arange(24).reshape(2, 3, 4)
print("strides:", x.stride(), x.stride(1))
print("permute:", x.permute(2, 0, 1).shape, x.permute(2, 0, 1).stride())
print("t:", torch.arange(6).view(2, 3).t().stride())
print("narrow:", x.narrow(2, 1, 2).stride(), x.narrow(2, 1, 2).is_contiguous())
print("select:", x[:, 1].stride(), x[..., 2].stride())
print("slice step:", x[:, ::2, 1::2].stride(), x[:, ::2, 1::2].tolist())
e = torch.tensor([1, 2, 3]).expand(4, 3)
print("expand:", e.stride(), e.shape, e.is_contiguous())
print("unsqueeze:", x.unsqueeze(1).shape, x.unsqueeze(-1).stride())
u = torch.arange(8.0).unfold(0, 3, 2)
print("unfold:", u.tolist(), u.stride())
d = torch.arange(9).view(3, 3).diagonal()
print("diagonal:", d.tolist(), d.stride())
try:
    t.view(4)
    print("view of non-contiguous: ok")
except RuntimeError as err:
    print("view of non-contiguous: RuntimeError", "view size is not compatible" in str(err))
print("reshape instead:", t.reshape(4).tolist())
print("flatten:", x.flatten(1).shape, x.flatten().stride())
print("unflatten:", torch.arange(12).unflatten(0, (3, 4)).shape)
print("movedim:", x.movedim(0, -1).shape, x.movedim(0, -1).stride())
print("squeeze:", torch.zeros(1, 3, 1).squeeze().shape, torch.zeros(1, 3, 1).squeeze(0).shape)
print("view -1:", x.view(-1, 4).shape, x.view(6, -1).shape)
ch = torch.arange(10).chunk(3)
print("chunk:", [c.tolist() for c in ch])
sp = torch.arange(10).split([3, 7])
print("split:", [c.shape[0] for c in sp])
ub = torch.arange(6).view(2, 3).unbind(1)
print("unbind:", [c.tolist() for c in ub], ub[2].stride())
v = torch.zeros(3, 4)
v[:, 1].fill_(7)
v.narrow(0, 2, 1).add_(1)
print("in-place through views:", v.tolist())
w = torch.zeros(2, 3)
w.t()[1] = 5
print("write through t():", w.tolist())
a = torch.ones(3, requires_grad=True)
da = a.detach()
da[0] = 5
print("detach shares storage:", a[0].item(), a.requires_grad, da.requires_grad)
print(
    "view dtype element size:",
    torch.zeros(2, dtype=torch.float64).element_size(),
    torch.zeros(2, dtype=torch.int16).element_size(),
)
print("numel / dim:", x.numel(), x.dim(), x.ndim)
