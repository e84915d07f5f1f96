# Linear regression the numerical way: torch.linalg.lstsq on a design matrix (with a bias
# column), polynomial fitting with torch.vander, ridge regression in closed form with
# linalg.solve, pinv, QR-based solve with solve_triangular, normal equations with
# cholesky, R^2, and the same fit by gradient descent for comparison.
import numpy as np
import torch

rng = np.random.default_rng(0)
n = 50
x = torch.from_numpy(np.linspace(-2, 2, n)).double()
noise = torch.from_numpy(rng.standard_normal(n)) * 0.1
y = 1.5 * x - 0.7 + noise
A = torch.stack([x, torch.ones_like(x)], dim=1)
sol = torch.linalg.lstsq(A, y.unsqueeze(1))
print("lstsq:", sol.solution.squeeze(1), sol.solution.shape)
coef = sol.solution.squeeze(1)
pred = A @ coef
ss_res = ((y - pred) ** 2).sum()
ss_tot = ((y - y.mean()) ** 2).sum()
print("r2:", round((1 - ss_res / ss_tot).item(), 6))
y3 = 0.5 * x**3 - x + 2 + noise
V = torch.vander(x, N=4)
print("vander:", V[:2])
poly = torch.linalg.lstsq(V, y3.unsqueeze(1)).solution.squeeze(1)
print("poly:", poly)
lam = 0.5
ridge = torch.linalg.solve(V.T @ V + lam * torch.eye(4, dtype=torch.float64), V.T @ y3)
print("ridge:", ridge)
print("pinv:", torch.linalg.pinv(A) @ y)
Q, R = torch.linalg.qr(A)
print("qr shapes:", Q.shape, R.shape, torch.allclose(Q.T @ Q, torch.eye(2, dtype=torch.float64)))
qr_coef = torch.linalg.solve_triangular(R, (Q.T @ y).unsqueeze(1), upper=True).squeeze(1)
print("qr solve:", qr_coef)
L = torch.linalg.cholesky(A.T @ A)
chol = torch.cholesky_solve((A.T @ y).unsqueeze(1), L).squeeze(1)
print("cholesky solve:", chol)
print("all agree:", torch.allclose(coef, qr_coef) and torch.allclose(coef, chol))
multi = torch.linalg.lstsq(A, torch.stack([y, 2 * y], 1)).solution
print("multi rhs:", multi)
batched = torch.linalg.lstsq(
    A.expand(3, n, 2), torch.stack([y, y + 1, y - 1]).unsqueeze(-1)
).solution
print("batched:", batched.squeeze(-1))
w = torch.zeros(2, dtype=torch.float64, requires_grad=True)
opt = torch.optim.SGD([w], lr=0.1)
for _ in range(200):
    opt.zero_grad()
    loss = ((A @ w - y) ** 2).mean()
    loss.backward()
    opt.step()
print("gd:", w.detach(), "close:", torch.allclose(w.detach(), coef, atol=1e-4))
xf = x.float()
Af = torch.stack([xf, torch.ones_like(xf)], 1)
print("float32 lstsq:", torch.linalg.lstsq(Af, (1.5 * xf - 0.7).unsqueeze(1)).solution.squeeze(1))
print("cond/rank:", round(torch.linalg.cond(A).item(), 4), torch.linalg.matrix_rank(V).item())
print("det/inv:", torch.linalg.det(A.T @ A).item(), torch.linalg.inv(A.T @ A)[0])
