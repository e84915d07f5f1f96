# Observation / reward normalisation as RL and streaming-statistics code writes it: a
# RunningMeanStd module with register_buffer mean / var / count and the parallel-variance
# (Chan et al.) batch update done in place under torch.no_grad, normalize / denormalize
# with clamping, the buffers in state_dict and restored into a fresh module, eval mode
# freezing the statistics, and a check against NumPy's mean / var of all data seen.
import numpy as np
import torch
import torch.nn as nn


class RunningMeanStd(nn.Module):
    def __init__(self, shape, epsilon=1e-4, clip=5.0):
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape, dtype=torch.float64))
        self.register_buffer("var", torch.ones(shape, dtype=torch.float64))
        self.register_buffer("count", torch.tensor(epsilon, dtype=torch.float64))
        self.clip = clip

    @torch.no_grad()
    def update(self, x):
        batch_mean = x.mean(dim=0)
        batch_var = x.var(dim=0, unbiased=False)
        batch_count = x.shape[0]
        delta = batch_mean - self.mean
        tot_count = self.count + batch_count
        new_mean = self.mean + delta * batch_count / tot_count
        m_a = self.var * self.count
        m_b = batch_var * batch_count
        m2 = m_a + m_b + delta.pow(2) * self.count * batch_count / tot_count
        self.mean.copy_(new_mean)
        self.var.copy_(m2 / tot_count)
        self.count.copy_(tot_count)

    def forward(self, x):
        if self.training:
            self.update(x.double())
        out = (x.double() - self.mean) / torch.sqrt(self.var + 1e-8)
        return out.clamp(-self.clip, self.clip).to(x.dtype)

    def denormalize(self, y):
        return y.double() * torch.sqrt(self.var + 1e-8) + self.mean


rng = np.random.default_rng(0)
norm = RunningMeanStd((3,))
seen = []
for step in range(5):
    batch = rng.normal([1.0, -2.0, 10.0], [0.5, 2.0, 4.0], size=(16, 3)).astype(np.float32)
    seen.append(batch)
    out = norm(torch.from_numpy(batch))
    print("step", step, "out mean:", [round(v, 4) for v in out.mean(dim=0).tolist()], out.dtype)
all_data = np.concatenate(seen).astype(np.float64)
print("mean close:", np.allclose(norm.mean.numpy(), all_data.mean(0), atol=1e-4))
print("var close:", np.allclose(norm.var.numpy(), all_data.var(0), rtol=1e-3))
print("count:", round(norm.count.item(), 4))
print("state keys:", list(norm.state_dict().keys()))
fresh = RunningMeanStd((3,))
fresh.load_state_dict(norm.state_dict())
fresh.eval()
probe = torch.tensor([[1.0, -2.0, 10.0], [100.0, 0.0, 0.0]])
print("eval out:", fresh(probe))
print("frozen count:", round(fresh.count.item(), 4))
print(
    "round trip:", torch.allclose(fresh.denormalize(fresh(probe[:1])).float(), probe[:1], atol=1e-4)
)
print("buffers dtype:", fresh.mean.dtype, fresh.count.dim())
