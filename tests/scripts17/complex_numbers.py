# The "Complex Numbers" docs note: creating complex tensors, torch.complex / polar,
# view_as_real and view_as_complex, .real / .imag, angle and abs, complex linear algebra,
# serialization, and autograd through complex intermediates (conjugate Wirtinger).
import io
import math

import torch

x = torch.tensor([[0.5 + 1.0j, -1.0 + 0.25j], [2.0 - 1.5j, 0.0 + 3.0j]], dtype=torch.cfloat)
print("dtype:", x.dtype, x.is_complex(), x.shape)
print("complex default:", torch.tensor([1 + 2j]).dtype, torch.zeros(2, dtype=torch.cdouble).dtype)
real, imag = torch.tensor([1.0, 2.0]), torch.tensor([3.0, -4.0])
z = torch.complex(real, imag)
print("torch.complex:", z.dtype, z.real.tolist(), z.imag.tolist())
p = torch.polar(torch.tensor([2.0, 1.0]), torch.tensor([math.pi / 2, math.pi]))
print("polar:", p.real.numpy().round(5).tolist(), p.imag.numpy().round(5).tolist())
y = torch.view_as_real(x)
print("view_as_real:", y.shape, y[0].tolist())
y[0, 0, 0] = 9.0
print("view shares memory:", x[0, 0].real.item())
back = torch.view_as_complex(torch.tensor([[1.0, 2.0], [3.0, -1.0]]))
print("view_as_complex:", back.real.tolist(), back.imag.tolist())
print("real / imag:", x.real.tolist(), x.imag.tolist())
x.imag.mul_(2)
print("imag write-through:", x.imag.tolist())
print("angle:", torch.angle(z).numpy().round(5).tolist(), "abs:", torch.abs(z).tolist())
print("conj:", z.conj().imag.tolist(), z.conj().is_conj(), z.conj().resolve_conj().is_conj())
print("mul:", (z * z).real.tolist(), (z * z).imag.tolist())
print("exp:", torch.exp(1j * torch.tensor([0.0, math.pi / 2])).imag.numpy().round(5).tolist())
print("sum / mean:", z.sum().real.item(), z.mean().imag.item())
a = torch.tensor([[1.0 + 1j, 2.0], [0.5j, 3.0 - 1j]], dtype=torch.cfloat)
b = torch.tensor([1.0 + 0j, 1j], dtype=torch.cfloat)
print("matmul:", (a @ b).real.tolist(), (a @ b).imag.tolist())
buffer = io.BytesIO()
torch.save(z, buffer)
buffer.seek(0)
loaded = torch.load(buffer)
print("save/load:", loaded.dtype, loaded.real.tolist(), loaded.imag.tolist())
print("to complex:", torch.tensor([1.0, 2.0]).to(torch.cfloat).imag.tolist())

# autograd: a real loss through complex intermediates
w = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
c = torch.complex(w, w * 2)
loss = (c * c.conj()).real.sum()  # |c|^2 = 5 w^2
loss.backward()
print("grad through complex:", w.grad.tolist())
zc = torch.tensor([1.0 + 2.0j, -0.5 + 1.0j], requires_grad=True)
zc.abs().pow(2).sum().backward()
print("complex leaf grad (2z):", zc.grad.real.tolist(), zc.grad.imag.tolist())
