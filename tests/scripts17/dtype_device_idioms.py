# dtype and device idioms from the torch docs: get/set_default_dtype, torch.finfo / iinfo,
# is_tensor / is_floating_point / is_complex / numel, promote_types / result_type /
# can_cast, type conversions and the device-agnostic pattern.
import torch

print("default dtype:", torch.get_default_dtype())
print("tensor([1.2, 3]).dtype:", torch.tensor([1.2, 3]).dtype)
torch.set_default_dtype(torch.float64)
print("after set float64:", torch.get_default_dtype(), torch.tensor([1.2, 3]).dtype)
print(
    "complex default:",
    (torch.tensor([1.2, 3j])).dtype,
    torch.randn(2).dtype,
    torch.arange(3.0).dtype,
)
torch.set_default_dtype(torch.float32)
print("restored:", torch.get_default_dtype(), torch.zeros(1).dtype, torch.tensor(2).dtype)

for dt in (torch.float16, torch.float32, torch.float64):
    fi = torch.finfo(dt)
    print("finfo", dt, fi.bits, fi.eps, fi.max, fi.min, fi.tiny, fi.smallest_normal, fi.resolution)
print("finfo default:", torch.finfo().dtype)
for dt in (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64):
    ii = torch.iinfo(dt)
    print("iinfo", dt, ii.bits, ii.min, ii.max)

x = torch.tensor([1, 2, 3])
print(
    "is_tensor:",
    torch.is_tensor(x),
    torch.is_tensor([1, 2]),
    torch.is_tensor(torch.nn.Parameter(torch.ones(1))),
)
print(
    "is_floating_point:",
    torch.is_floating_point(x),
    torch.is_floating_point(x.float()),
    x.double().is_floating_point(),
)
print("is_complex:", torch.is_complex(torch.tensor([1 + 1j])), x.is_complex())
print(
    "numel:",
    torch.numel(torch.randn(1, 2, 3, 4, 5)),
    torch.zeros(4, 4).numel(),
    torch.numel(torch.tensor(5)),
)
print("is_nonzero:", torch.is_nonzero(torch.tensor([1.0])), torch.is_nonzero(torch.tensor([0])))
print(
    "promote_types:",
    torch.promote_types(torch.int32, torch.float32),
    torch.promote_types(torch.uint8, torch.int8),
)
print("result_type:", torch.result_type(torch.tensor([1, 2], dtype=torch.int32), 1.0))
print(
    "result_type tensors:",
    torch.result_type(torch.tensor([1, 2], dtype=torch.uint8), torch.tensor(1)),
)
print(
    "can_cast:", torch.can_cast(torch.double, torch.float), torch.can_cast(torch.float, torch.int)
)
print(
    "int + float:",
    (torch.tensor([1, 2]) + 0.5).dtype,
    (torch.tensor([1, 2]) * torch.tensor(2.5)).dtype,
)
print("int / int:", (torch.tensor([3]) / torch.tensor([2])).dtype, (torch.tensor([3]) // 2).dtype)
print(
    "uint8 + int8:",
    (torch.tensor([1], dtype=torch.uint8) + torch.tensor([1], dtype=torch.int8)).dtype,
)
print("bool sum:", torch.tensor([True, True]).sum().dtype, torch.tensor([True, False]).sum().item())
print("half + float:", (torch.ones(1, dtype=torch.half) + torch.ones(1)).dtype)
print(
    "0-d doesn't promote:",
    (torch.ones(2, dtype=torch.float16) + torch.tensor(1.0, dtype=torch.float64)).dtype,
)

y = torch.tensor([1.7, -2.3, 3.5])
print(
    "conversions:",
    y.int().tolist(),
    y.long().dtype,
    y.half().dtype,
    y.bool().tolist(),
    y.to(torch.int16).tolist(),
)
print("type():", y.type(), y.type(torch.float64).dtype, x.type())
print("to(other):", y.to(x).dtype, y.type_as(x).tolist())
print(
    "new_ tensors:",
    y.new_zeros(2).dtype,
    y.new_tensor([1, 2]).dtype,
    y.new_full((2,), 7).tolist(),
    y.new_ones((1, 2)).shape,
)
print(
    "element_size:",
    y.element_size(),
    x.element_size(),
    torch.ones(1, dtype=torch.float16).element_size(),
)
print(
    "dtype attrs:",
    torch.float32.is_floating_point,
    torch.int64.is_signed,
    torch.uint8.is_signed,
    torch.complex64.is_complex,
    torch.float16.itemsize,
)
print(
    "dtype names:", torch.float == torch.float32, torch.double, torch.long, torch.half, torch.cfloat
)

device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
print("device:", device.type, torch.device("cpu"), torch.device("cpu", 0).index)
z = torch.zeros(2, device=device)
print("to(device) same:", z.to(device) is z, z.device.type, z.is_cuda)
print(
    "zeros_like keeps dtype:",
    torch.zeros_like(x).dtype,
    torch.ones_like(y, dtype=torch.int32).dtype,
)
print("empty shapes:", torch.empty(0, 3).shape, torch.empty(0, 3).numel(), torch.zeros(()).dim())
print("get_default_device:", torch.get_default_device())
