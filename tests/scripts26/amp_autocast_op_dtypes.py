# The CPU autocast op lists of the AMP docs, under torch.autocast(device_type="cpu",
# dtype=torch.bfloat16): ops that run in bfloat16 (mm, matmul, bmm, addmm, baddbmm,
# linear, conv1d / conv2d, conv_transpose) and ops autocast to float32 (mse_loss,
# binary_cross_entropy... the "float32" list: cdist, prod, grid_sample, ...), elementwise
# ops keeping their input type, mixed-dtype promotion, a disabled inner region, the state
# queries, and float32 parameter gradients after backward.
import torch
import torch.nn.functional as F

a = torch.linspace(-1, 1, 12).view(3, 4)
b = torch.linspace(1, -1, 20).view(4, 5)
batch = torch.linspace(0, 1, 24).view(2, 3, 4)
w = torch.linspace(-0.5, 0.5, 15).view(3, 5)
img = torch.linspace(0, 1, 2 * 2 * 6 * 6).view(2, 2, 6, 6)
kernel = torch.linspace(-1, 1, 3 * 2 * 3 * 3).view(3, 2, 3, 3)
seq = torch.linspace(0, 1, 2 * 2 * 8).view(2, 2, 8)
k1 = torch.linspace(-1, 1, 3 * 2 * 3).view(3, 2, 3)

with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
    print("enabled:", torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu"))
    print("mm:", torch.mm(a, b).dtype)
    print("matmul:", (a @ b).dtype)
    print("bmm:", torch.bmm(batch, batch.transpose(1, 2)).dtype)
    print("addmm:", torch.addmm(torch.zeros(3, 5), a, b).dtype)
    print("baddbmm:", torch.baddbmm(torch.zeros(2, 3, 3), batch, batch.transpose(1, 2)).dtype)
    print("linear:", F.linear(a, b.T).dtype)
    print("conv2d:", F.conv2d(img, kernel).dtype)
    print("conv1d:", F.conv1d(seq, k1).dtype)
    print("conv_transpose2d:", F.conv_transpose2d(img, kernel.transpose(0, 1)).dtype)
    out = torch.mm(a, b)
    print("relu keeps:", torch.relu(out).dtype, "add fp32:", (out + a.sum()).dtype)
    print("mixed add:", (out + torch.ones(3, 5)).dtype)
    print("mse_loss:", F.mse_loss(out, torch.zeros(3, 5)).dtype)
    print("cdist:", torch.cdist(a, a).dtype)
    print("prod:", torch.prod(out, dim=1).dtype)
    print("sum of bf16:", out.sum().dtype)
    with torch.autocast(device_type="cpu", enabled=False):
        print("inner disabled mm:", torch.mm(a, b).dtype, torch.is_autocast_enabled("cpu"))
        print("inner mm of bf16 input:", torch.mm(out.float(), b.T).dtype)
print("outside:", torch.mm(a, b).dtype, torch.is_autocast_enabled("cpu"))

model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(torch.cos(torch.arange(p.numel(), dtype=torch.float32) + i).view_as(p) * 0.3)
with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
    y = model(a)
    loss = F.mse_loss(y, torch.zeros(3, 2))
print("output dtype:", y.dtype, "loss dtype:", loss.dtype)
loss.backward()
print("grad dtypes:", [p.grad.dtype for p in model.parameters()])
print("loss:", round(loss.item(), 2))
