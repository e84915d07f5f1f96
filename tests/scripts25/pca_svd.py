# PCA the way notebooks do it with torch.linalg: centre the data, SVD (full_matrices=False),
# explained variance ratios, projection and reconstruction error with k components, the
# same from eigh of the covariance (eigenvalues ascending, flipped), whitening, and
# torch.pca_lowrank / svd_lowrank agreement on the leading singular values. Signs of
# singular vectors are arbitrary, so the script prints sign-free quantities.
import numpy as np
import torch

rng = np.random.default_rng(0)
latent = rng.standard_normal((100, 2))
mixing = np.array([[3.0, 1.0, 0.5, 0.0], [0.0, 1.0, -1.0, 2.0]])
X = torch.from_numpy(latent @ mixing + 0.1 * rng.standard_normal((100, 4)))
mean = X.mean(0)
Xc = X - mean
U, S, Vh = torch.linalg.svd(Xc, full_matrices=False)
print("shapes:", U.shape, S.shape, Vh.shape)
print("singular values:", S)
var = S**2 / (X.shape[0] - 1)
ratio = var / var.sum()
print("explained ratio:", ratio, ratio[:2].sum())
print("cumsum:", torch.cumsum(ratio, 0))
k = 2
Z = Xc @ Vh[:k].T
recon = Z @ Vh[:k] + mean
print("recon error:", ((X - recon) ** 2).mean())
print("orthonormal:", torch.allclose(Vh @ Vh.T, torch.eye(4, dtype=torch.float64), atol=1e-10))
cov = Xc.T @ Xc / (X.shape[0] - 1)
evals, evecs = torch.linalg.eigh(cov)
print("eigh ascending:", evals)
print("eigh == svd variances:", torch.allclose(evals.flip(0), var))
alignment = (evecs.flip(1)[:, :2].T @ Vh[:2].T).abs()
print("same directions:", torch.allclose(alignment, torch.eye(2, dtype=torch.float64), atol=1e-8))
white = Z / S[:k] * (X.shape[0] - 1) ** 0.5
print("whitened cov:", torch.cov(white.T))
print("reconstruct Xc:", torch.allclose(U @ torch.diag(S) @ Vh, Xc))
print("svdvals:", torch.linalg.svdvals(Xc))
torch.manual_seed(0)
U2, S2, V2 = torch.pca_lowrank(X, q=2, center=True, niter=4)
print("pca_lowrank:", U2.shape, S2.shape, V2.shape, torch.allclose(S2, S[:2], rtol=1e-6))
U3, S3, V3 = torch.svd_lowrank(Xc, q=2, niter=4)
print("svd_lowrank:", U3.shape, S3.shape, V3.shape, torch.allclose(S3, S[:2], rtol=1e-6))
print(
    "svd_lowrank vectors:",
    torch.allclose((V3.T @ Vh[:2].T).abs(), torch.eye(2, dtype=torch.float64), atol=1e-6),
)
Uw, Sw, Vw = torch.svd_lowrank(Xc.T, q=2, niter=4)
print("svd_lowrank wide:", Uw.shape, Vw.shape, torch.allclose(Sw, S[:2], rtol=1e-6))
print(
    "pca V directions:",
    torch.allclose((V2.T @ Vh[:2].T).abs(), torch.eye(2, dtype=torch.float64), atol=1e-6),
)
Xf = X.float()
Sf = torch.linalg.svdvals(Xf - Xf.mean(0))
print("float32 svdvals:", Sf.dtype, torch.allclose(Sf.double(), S, rtol=1e-4))
print("rank:", torch.linalg.matrix_rank(Xc).item(), torch.linalg.matrix_rank(Xc, atol=1.0).item())
