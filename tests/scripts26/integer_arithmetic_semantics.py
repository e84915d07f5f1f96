# Integer arithmetic as index and bucketing code relies on it: floor division // and
# torch.div(rounding_mode="floor" / "trunc") with negative operands, % and fmod signs,
# int / int giving float, int32 and int8 overflow wrapping, bit shifts and bitwise ops,
# integer pow, abs of the most negative int8, integer clamp, and mixing int tensors with
# Python floats (promotion to the default float dtype).
import torch

a = torch.tensor([7, -7, 7, -7])
b = torch.tensor([2, 2, -2, -2])
print("floordiv:", (a // b).tolist(), torch.div(a, b, rounding_mode="floor").tolist())
print("trunc:", torch.div(a, b, rounding_mode="trunc").tolist())
print("true div:", (a / b).tolist(), (a / b).dtype)
print("remainder:", (a % b).tolist(), torch.remainder(a, b).tolist(), torch.fmod(a, b).tolist())
print("python scalar //:", (a // 3).tolist(), (a % 3).tolist(), (-a // 3).tolist())
i32 = torch.tensor([2**31 - 1], dtype=torch.int32)
print("int32 overflow:", (i32 + 1).tolist(), (i32 * 2).tolist())
i8 = torch.tensor([127, -128], dtype=torch.int8)
print("int8 wrap:", (i8 + 1).tolist(), i8.abs().tolist(), (-i8).tolist())
print("shifts:", (torch.tensor([1, 8]) << 3).tolist(), (torch.tensor([-16, 16]) >> 2).tolist())
print(
    "bitwise:",
    (torch.tensor([12]) & 10).tolist(),
    (torch.tensor([12]) | 3).tolist(),
    (torch.tensor([12]) ^ 5).tolist(),
    (~torch.tensor([0, 5])).tolist(),
)
print("int pow:", (torch.tensor([2, 3]) ** 3).tolist(), torch.tensor([2, 3]).pow(2).dtype)
print("int clamp:", torch.tensor([-5, 0, 5]).clamp(-2, 3).tolist())
print("int * float:", (torch.tensor([1, 2]) * 0.5).dtype, (torch.tensor([1, 2]) + 1.0).tolist())
print("int32 + int64:", (torch.tensor([1], dtype=torch.int32) + torch.tensor([1])).dtype)
print("int32 + python int:", (torch.tensor([1], dtype=torch.int32) + 5).dtype)
print(
    "uint8 + int8:",
    (torch.tensor([1], dtype=torch.uint8) + torch.tensor([1], dtype=torch.int8)).dtype,
)
print(
    "bool + bool:",
    (torch.tensor([True]) + torch.tensor([True])).tolist(),
    (torch.tensor([True]) + torch.tensor([True])).dtype,
)
print(
    "bool sum:",
    torch.tensor([True, True, False]).sum().item(),
    torch.tensor([True, True]).sum().dtype,
)
print("mean of int as float:", torch.tensor([1, 2]).float().mean().item())
print("argsort of ints:", torch.tensor([3, 1, 2]).argsort().tolist())
print("int max / min:", torch.iinfo(torch.int16).max, torch.iinfo(torch.int16).min)
print("div by zero int float:", (torch.tensor([1, -1, 0]) / 0).tolist())
try:
    torch.tensor([1]) // 0
except RuntimeError as e:
    print("int // 0:", "ZeroDivisionError" in str(e))
