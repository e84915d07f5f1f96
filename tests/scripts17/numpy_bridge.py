# "Tensors" tutorial, the bridge with NumPy: torch.from_numpy shares memory, Tensor.numpy()
# writes through, torch.as_tensor / torch.tensor copy or not, dtypes map across, and what
# the bridge refuses (negative strides, tensors that require grad).
import numpy as np
import torch

t = torch.ones(5)
print(f"t: {t}")
n = t.numpy()
print(f"n: {n}")
t.add_(1)
print(f"t: {t}")
print(f"n: {n}")
n = np.ones(5)
t = torch.from_numpy(n)
np.add(n, 1, out=n)
print(f"t: {t}")
print(f"n: {n}")
print("dtype:", t.dtype)
n[0] = 10
print("write through numpy:", t.tolist())
t[1] = -1
print("write through tensor:", n.tolist())

a = np.arange(6, dtype=np.int32).reshape(2, 3)
print("as_tensor shares:", np.shares_memory(torch.as_tensor(a).numpy(), a))
print("tensor copies:", np.shares_memory(torch.tensor(a).numpy(), a))
print(
    "as_tensor dtype cast copies:",
    np.shares_memory(torch.as_tensor(a, dtype=torch.float32).numpy(), a),
)
for dt in (
    np.float16,
    np.float32,
    np.float64,
    np.int8,
    np.uint8,
    np.int16,
    np.int64,
    np.bool_,
    np.complex64,
):
    print("from_numpy", np.dtype(dt).name, "->", torch.from_numpy(np.zeros(2, dtype=dt)).dtype)
for dt in (torch.float32, torch.float64, torch.int64, torch.bool, torch.int32):
    print("numpy of", dt, "->", torch.zeros(2, dtype=dt).numpy().dtype)
print("float64 default:", torch.tensor(np.array([1.5])).dtype, torch.tensor([1.5]).dtype)
transposed = torch.from_numpy(np.arange(6.0).reshape(2, 3).T)
print("transposed view:", transposed.shape, transposed.tolist())
try:
    print("negative strides:", torch.from_numpy(np.arange(5)[::-1]).tolist())
except ValueError:
    print("negative strides: ValueError")
print("after copy:", torch.from_numpy(np.arange(5)[::-1].copy()).tolist())
x = torch.ones(2, requires_grad=True)
try:
    x.numpy()
except RuntimeError:
    print("requires_grad numpy: RuntimeError")
print("detach numpy:", x.detach().numpy().tolist())
s = torch.tensor(3.5)
print("0-d:", s.numpy().shape, float(s.numpy()), s.item())
print(
    "scalar from numpy:", torch.from_numpy(np.array(2.0)).shape, torch.tensor(np.float32(2.5)).dtype
)
arr = np.zeros((2, 2), dtype=np.float32)
view = torch.from_numpy(arr)
view.mul_(0).add_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
print("in-place ops reach numpy:", arr.tolist())
print("np ops on tensor:", np.sum(torch.arange(4.0).numpy()), np.asarray(torch.arange(3)).tolist())
print("stack from list of arrays:", torch.tensor(np.stack([np.ones(2), np.zeros(2)])).tolist())
print("frombuffer:", torch.frombuffer(bytearray(b"\x01\x02\x03\x04"), dtype=torch.uint8).tolist())
print("tolist round trip:", torch.tensor(torch.arange(3).numpy().tolist()).tolist())
