# The "Automatic Mixed Precision" recipe on CPU with bfloat16: torch.autocast(
# device_type="cpu", dtype=torch.bfloat16) around the forward pass, which ops run in
# bfloat16 (linear, matmul, conv) and which stay float32 outside autocast, the float32
# parameters and their float32 gradients, nesting autocast(enabled=False), torch.amp's
# is_autocast_available, and a short training loop (compared with a loose tolerance).
import numpy as np
import torch
import torch.nn as nn

rng = np.random.default_rng(9)
x = torch.from_numpy(rng.standard_normal((8, 6)).astype(np.float32))
target = torch.from_numpy(rng.standard_normal((8, 3)).astype(np.float32))

model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(
            torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.35 + i).reshape(p.shape)
            * 0.3
        )

with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
    out = model(x)
    mm = x @ x.T
    added = x + 1
    print("linear output:", out.dtype)
    print("matmul output:", mm.dtype)
    print("add stays:", added.dtype)
    conv = nn.Conv2d(1, 2, 3)
    print("conv output:", conv(torch.ones(1, 1, 4, 4)).dtype)
    with torch.autocast(device_type="cpu", enabled=False):
        print("disabled region:", (x @ x.T).dtype)
    print("is_autocast_enabled:", torch.is_autocast_enabled("cpu"))
    loss = nn.functional.mse_loss(out.float(), target)
print("outside:", (x @ x.T).dtype, torch.is_autocast_enabled("cpu"))
print("amp available:", torch.amp.is_autocast_available("cpu"))
loss.backward()
print("param / grad dtypes:", model[0].weight.dtype, model[0].weight.grad.dtype)
print("bf16 forward close to fp32:", torch.allclose(out.float(), model(x), atol=0.05, rtol=0.05))

optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for epoch in range(5):
    optimizer.zero_grad()
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        output = model(x)
        loss = nn.functional.mse_loss(output.float(), target)
    loss.backward()
    optimizer.step()
    print("bf16 epoch", epoch, round(loss.item(), 2))

a = torch.tensor([1.0, 1.0 + 2**-8, 1.0 + 2**-7, 3.14159, 1e-3])
print("bfloat16 rounding:", a.to(torch.bfloat16).float().tolist())
print("bfloat16 sum:", torch.ones(300, dtype=torch.bfloat16).sum().item())
