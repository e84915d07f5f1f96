# Examples from the torch.linalg and torch.fft docs: norms, solve / inv / det / slogdet,
# QR, SVD, eigh, cholesky, lstsq, matrix_rank, pinv, matrix_power, cross, batched
# matrices; fft / ifft / rfft / irfft / fft2 / fftfreq / fftshift; and a gradient
# through linalg.
import torch

A = torch.tensor([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]], dtype=torch.float64)
B = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]], dtype=torch.float64)
a = torch.arange(9, dtype=torch.float) - 4
Bm = a.reshape((3, 3))
print(
    "vector_norm:", torch.linalg.vector_norm(a).item(), torch.linalg.vector_norm(a, ord=3.5).item()
)
print(
    "norm:",
    torch.linalg.norm(a).item(),
    torch.linalg.norm(Bm).item(),
    torch.linalg.norm(Bm, "fro").item(),
)
print(
    "norm inf / -inf:",
    torch.linalg.norm(a, float("inf")).item(),
    torch.linalg.norm(Bm, float("-inf")).item(),
)
print("norm 1 / -1:", torch.linalg.norm(Bm, 1).item(), torch.linalg.norm(Bm, -1).item())
print(
    "matrix_norm nuc:",
    round(torch.linalg.matrix_norm(Bm, ord="nuc").item(), 4),
    round(torch.linalg.matrix_norm(Bm, ord=2).item(), 4),
)
print(
    "norm dim:",
    torch.linalg.norm(Bm, dim=1).numpy().round(5).tolist(),
    torch.norm(Bm, p=1, dim=0).tolist(),
)
x = torch.linalg.solve(A, B)
print("solve:", torch.allclose(A @ x, B), x.numpy().round(6).tolist())
print("inv:", torch.allclose(torch.linalg.inv(A) @ A, torch.eye(3, dtype=torch.float64)))
print(
    "det:",
    round(torch.linalg.det(A).item(), 6),
    "slogdet:",
    [round(v.item(), 6) for v in torch.linalg.slogdet(A)],
)
Q, R = torch.linalg.qr(B)
print("qr:", list(Q.shape), list(R.shape), torch.allclose(Q @ R, B), abs(round(R[0, 0].item(), 6)))
Qc, Rc = torch.linalg.qr(B, mode="complete")
print("qr complete:", list(Qc.shape), list(Rc.shape))
U, S, Vh = torch.linalg.svd(B, full_matrices=False)
print("svd:", list(U.shape), S.numpy().round(6).tolist(), torch.allclose(U @ torch.diag(S) @ Vh, B))
print("svdvals:", torch.linalg.svdvals(B).numpy().round(6).tolist())
L, V = torch.linalg.eigh(A)
print("eigh:", L.numpy().round(6).tolist(), torch.allclose(V @ torch.diag(L) @ V.T, A))
print("eigvalsh:", torch.linalg.eigvalsh(A).numpy().round(6).tolist())
C = torch.linalg.cholesky(A)
print("cholesky:", torch.allclose(C @ C.T, A), C[0].numpy().round(6).tolist())
print("cholesky upper:", torch.allclose(torch.linalg.cholesky(A, upper=True), C.T))
res = torch.linalg.lstsq(B, torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64))
print("lstsq:", res.solution.numpy().round(6).tolist())
print(
    "matrix_rank:",
    torch.linalg.matrix_rank(A).item(),
    torch.linalg.matrix_rank(torch.ones(3, 3)).item(),
)
print("pinv:", torch.allclose(torch.linalg.pinv(B) @ B, torch.eye(2, dtype=torch.float64)))
print(
    "matrix_power:",
    torch.linalg.matrix_power(A, 3)[0].numpy().round(4).tolist(),
    torch.linalg.matrix_power(A, 0)[1].tolist(),
)
print(
    "cross:",
    torch.linalg.cross(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0])).tolist(),
)
batch = torch.stack([A, 2 * A, A + torch.eye(3, dtype=torch.float64)])
print("batched det:", torch.linalg.det(batch).numpy().round(5).tolist())
print(
    "batched inv ok:",
    torch.allclose(
        torch.linalg.inv(batch) @ batch, torch.eye(3, dtype=torch.float64).expand(3, 3, 3)
    ),
)
print("vecdot:", torch.linalg.vecdot(B.T, B.T).numpy().round(6).tolist())
print("multi_dot:", torch.linalg.multi_dot([A, B, B.T])[0].numpy().round(4).tolist())
print("diagonal / trace:", torch.linalg.diagonal(A).tolist(), torch.trace(A).item())
try:
    torch.linalg.cholesky(-A)
except RuntimeError:
    print("cholesky not PD: RuntimeError")
print("cholesky_ex info:", torch.linalg.cholesky_ex(-A).info.item() > 0)

# gradients through linalg
Ag = A.clone().requires_grad_(True)
torch.linalg.det(Ag).backward()
print("d det / dA:", torch.allclose(Ag.grad, torch.linalg.det(A) * torch.linalg.inv(A).T))
Ag.grad = None
torch.linalg.inv(Ag).sum().backward()
print("d inv sum:", Ag.grad[0].numpy().round(6).tolist())

t = torch.arange(4.0)
print("fft:", torch.fft.fft(t).real.tolist(), torch.fft.fft(t).imag.tolist())
print("ifft round trip:", torch.allclose(torch.fft.ifft(torch.fft.fft(t)).real, t))
print("rfft:", torch.fft.rfft(t).shape, torch.fft.rfft(t).real.tolist())
print("irfft:", torch.fft.irfft(torch.fft.rfft(t), n=4).numpy().round(6).tolist())
print("fftfreq:", torch.fft.fftfreq(5).tolist(), torch.fft.rfftfreq(5, d=0.5).tolist())
print(
    "fftshift:",
    torch.fft.fftshift(torch.fft.fftfreq(4)).tolist(),
    torch.fft.ifftshift(torch.arange(5)).tolist(),
)
img = torch.arange(16.0).reshape(4, 4)
print("fft2:", torch.fft.fft2(img)[0].real.tolist(), torch.fft.fftn(img, dim=(0,)).shape)
print("norm ortho:", torch.fft.fft(t, norm="ortho").real.tolist())
signal = torch.sin(torch.arange(32.0) * 2 * torch.pi * 4 / 32)
print("peak bin:", torch.fft.rfft(signal).abs().argmax().item())
