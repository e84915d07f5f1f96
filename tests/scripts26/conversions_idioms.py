# Conversions that metric, logging and data code does all the time: torch.tensor of a
# list of 0-d tensors / of NumPy scalars / of nested lists of mixed ints and floats,
# torch.as_tensor sharing NumPy memory, torch.stack of 0-d losses, float() / int() /
# bool() of one-element tensors (and the error for more), .item() of a (1, 1) tensor,
# .tolist() of 0-d and n-d tensors, torch.tensor(True), dtype inference for
# Python bools / ints / floats / complex, and list(tensor) / tensor iteration.
import numpy as np
import torch

losses = [torch.tensor(0.5), torch.tensor(0.25), torch.tensor(1.0)]
t = torch.tensor(losses)
print("from 0-d list:", t, t.dtype)
print("stack 0-d:", torch.stack(losses), torch.stack(losses).shape)
print(
    "np scalars:",
    torch.tensor([np.float32(1.5), np.float32(2.5)]).dtype,
    torch.tensor(np.float64(2.0)).dtype,
)
print("np int64 scalar:", torch.tensor(np.int64(7)), torch.tensor(np.int64(7)).dtype)
print("mixed nested:", torch.tensor([[1, 2.5], [3, 4]]), torch.tensor([[1, 2], [3, 4]]).dtype)
print(
    "bools:", torch.tensor([True, False]).dtype, torch.tensor(True), torch.tensor([1, True]).dtype
)
print("complex:", torch.tensor([1 + 2j]).dtype, torch.tensor(2.0 + 0j))
arr = np.array([1.0, 2.0, 3.0])
shared = torch.as_tensor(arr)
arr[0] = 10.0
print("as_tensor shares:", shared.tolist(), shared.dtype)
copied = torch.tensor(arr)
arr[1] = 20.0
print("tensor copies:", copied.tolist())
one = torch.tensor([[3.5]])
print("item (1, 1):", one.item(), float(one), int(one), bool(one))
print(
    "float of int tensor:",
    float(torch.tensor([4])),
    int(torch.tensor(4.9)),
    int(torch.tensor(-4.9)),
)
try:
    float(torch.tensor([1.0, 2.0]))
except (RuntimeError, ValueError, TypeError) as e:
    print("float of 2 elements:", type(e).__name__)
try:
    bool(torch.tensor([1, 0]))
except RuntimeError as e:
    print("bool ambiguous:", "ambiguous" in str(e))
print("tolist 0-d:", torch.tensor(2.5).tolist(), type(torch.tensor(2.5).tolist()).__name__)
print(
    "tolist int:",
    torch.tensor([[1, 2]]).tolist(),
    type(torch.tensor([[1, 2]]).tolist()[0][0]).__name__,
)
rows = list(torch.arange(6).view(3, 2))
print("list rows:", len(rows), rows[1], rows[1].shape)
total = sum(torch.tensor([1.0, 2.0, 3.0]))
print("python sum:", total, type(total).__name__)
print("max of list:", max(torch.tensor([3, 9, 2])).item())
print("in:", 2 in torch.tensor([1, 2, 3]), 5 in torch.tensor([1, 2, 3]))
print("round float:", round(torch.tensor(2.567).item(), 2), f"{torch.tensor(0.123456).item():.3f}")
print("format tensor:", f"{torch.tensor(1.23456):.2f}")
print(
    "numpy roundtrip:",
    torch.from_numpy(np.arange(3, dtype=np.int32)).dtype,
    torch.ones(2).numpy().dtype,
)
print("tensor of tensor list 2d:", torch.tensor([torch.tensor([1.0, 2.0]).tolist(), [3.0, 4.0]]))
try:
    torch.tensor([[1, 2], [3]])
except (ValueError, TypeError, RuntimeError) as e:
    print("ragged:", type(e).__name__)
