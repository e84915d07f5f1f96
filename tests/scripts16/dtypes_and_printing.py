# Mixed float64 / float32 code as users write it (type promotion with tensors and Python
# scalars, model.double(), set_default_dtype, .to(dtype), integer division, dtype
# attributes, torch.finfo / iinfo) and the strings users print: f"{loss.item():.4f}",
# print(tensor) of small float / int / bool / float64 / requires_grad tensors, 0-d
# tensors, and format() of a 0-d tensor.
import numpy as np
import torch
import torch.nn as nn

a32 = torch.tensor([1.5, 2.5])
a64 = torch.tensor([1.0, 2.0], dtype=torch.float64)
i64 = torch.tensor([1, 2])
i32 = torch.tensor([3, 4], dtype=torch.int32)
print("f32 + f64:", (a32 + a64).dtype)
print("f32 + int:", (a32 + i64).dtype, "int + 1.5:", (i64 + 1.5).dtype, "int * 2:", (i64 * 2).dtype)
print("int32 + int64:", (i32 + i64).dtype, "int32 + 1:", (i32 + 1).dtype)
print("f32 * f64 0-d:", (a32 * torch.tensor(2.0, dtype=torch.float64)).dtype)
print("bool + bool:", (torch.tensor([True]) + torch.tensor([True])).dtype)
print(
    "int / int:", (i64 / 2).dtype, (i64 / 2).tolist(), "//:", (torch.tensor([7, -7]) // 2).tolist()
)
print(
    "uint8 + int8:",
    (torch.tensor([1], dtype=torch.uint8) + torch.tensor([1], dtype=torch.int8)).dtype,
)
print(
    "np float64 -> tensor:",
    torch.from_numpy(np.zeros(2)).dtype,
    torch.tensor(np.float32(1.0)).dtype,
)
print(
    "torch.tensor of python floats:",
    torch.tensor([1.0]).dtype,
    torch.tensor([1]).dtype,
    torch.tensor([True]).dtype,
)
print(
    "is_floating_point:",
    a64.is_floating_point(),
    i64.is_floating_point(),
    a64.dtype.is_floating_point,
)
print(
    "finfo:",
    torch.finfo(torch.float32).eps,
    torch.finfo(torch.float64).max,
    torch.finfo(torch.float16).tiny,
)
print(
    "iinfo:",
    torch.iinfo(torch.int32).max,
    torch.iinfo(torch.int8).min,
    torch.iinfo(torch.uint8).bits,
)
print(
    "element sizes:",
    a32.element_size(),
    a64.element_size(),
    torch.zeros(1, dtype=torch.float16).element_size(),
)

model = nn.Linear(3, 2)
with torch.no_grad():
    model.weight.copy_(torch.tensor([[0.1, 0.2, 0.3], [-0.1, 0.0, 0.5]]))
    model.bias.fill_(0.25)
x64 = torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)
try:
    model(x64)
    print("float32 model on float64 input: ran")
except RuntimeError:
    print("float32 model on float64 input: RuntimeError")
model64 = model.double()
print("model.double():", model64.weight.dtype, model64(x64).dtype, model64(x64).tolist())
model.float()
print("model.float():", model.weight.dtype)
print("to(dtype):", model.to(torch.float64).bias.dtype, model.to(dtype=torch.float32).bias.dtype)
half = torch.tensor([0.1, 1 / 3]).half()
print("half:", half.dtype, half.float().tolist())
print(
    "double precision kept:",
    torch.tensor([1 / 3], dtype=torch.float64).item(),
    torch.tensor([1 / 3]).item(),
)
torch.set_default_dtype(torch.float64)
print(
    "default float64:",
    torch.tensor([1.0]).dtype,
    torch.zeros(2).dtype,
    torch.get_default_dtype(),
    nn.Linear(2, 2).weight.dtype,
)
print("arange float:", torch.arange(0, 1, 0.5).dtype, torch.arange(3).dtype)
torch.set_default_dtype(torch.float32)
print("default back:", torch.get_default_dtype(), torch.tensor(1.5).dtype)

# printing
loss = torch.tensor(0.123456789)
print(f"loss: {loss.item():.4f}")
print(f"loss {loss.item():>10.6f}|")
print("loss format:", f"{loss:.3f}", f"{loss.item():.2e}")
print("t:", torch.tensor([1.0, 2.5, -3.25]))
print("ints:", torch.tensor([[1, 2], [3, 4]]))
print("bools:", torch.tensor([True, False]))
print("f64:", torch.tensor([1.5, 2.0], dtype=torch.float64))
print("int32:", torch.tensor([1, 2], dtype=torch.int32))
print("0-d:", torch.tensor(3.5), torch.tensor(7))
print("grad:", torch.tensor([1.0, 2.0], requires_grad=True))
w = torch.tensor([1.0, 2.0], requires_grad=True)
print("grad_fn:", w * 2)
print("empty:", torch.zeros(0), torch.zeros(2, 0).shape)
print("mixed magnitudes:", torch.tensor([0.001, 1000.0]))
print("integers as floats:", torch.tensor([1.0, 2.0, 3.0]))
print("rounded:", torch.tensor([0.1234567, 2.0]))
print("nan/inf:", torch.tensor([float("nan"), float("inf"), -float("inf"), 1.0]))
print("shape:", torch.zeros(2, 3).shape, torch.zeros(2, 3).size(1), tuple(torch.zeros(2, 3).shape))
print("dtype str:", str(torch.float32), repr(torch.int64))
print("device:", torch.zeros(1).device, str(torch.device("cpu")))
print(
    "item types:",
    type(torch.tensor(1).item()).__name__,
    type(torch.tensor(1.0).item()).__name__,
    type(torch.tensor(True).item()).__name__,
)
print("tolist:", torch.tensor([[1.5, 2.0]]).tolist(), torch.tensor(2).tolist())
print("numpy:", torch.tensor([1.0, 2.0]).numpy(), torch.tensor([1, 2]).numpy().dtype)
print("int():", int(torch.tensor(3.7)), float(torch.tensor(2)), bool(torch.tensor(0.0)))
