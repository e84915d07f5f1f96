# The "Tensor Attributes" docs page: torch.dtype properties (is_floating_point,
# is_complex, is_signed, itemsize), type promotion (promote_types, result_type, can_cast),
# torch.finfo / iinfo fields, torch.device forms and comparisons, torch.layout, and
# memory formats (contiguous vs channels_last strides, is_contiguous(memory_format=)).
import torch

for dt in (
    torch.float32,
    torch.float64,
    torch.float16,
    torch.bfloat16,
    torch.int8,
    torch.uint8,
    torch.int64,
    torch.bool,
    torch.complex64,
):
    print("dtype", dt, dt.is_floating_point, dt.is_complex, dt.is_signed, dt.itemsize)
print(
    "aliases:",
    torch.float is torch.float32,
    torch.double is torch.float64,
    torch.half is torch.float16,
    torch.long is torch.int64,
    torch.int is torch.int32,
    torch.cfloat is torch.complex64,
)
print(
    "promote_types:",
    torch.promote_types(torch.int32, torch.float32),
    torch.promote_types(torch.uint8, torch.int8),
    torch.promote_types(torch.float16, torch.bfloat16),
    torch.promote_types(torch.bool, torch.int16),
)
print(
    "result_type:",
    torch.result_type(torch.tensor([1, 2]), 1.0),
    torch.result_type(
        torch.tensor([1.0], dtype=torch.float16), torch.tensor(1.0, dtype=torch.float64)
    ),
    torch.result_type(2, 3.5),
)
print(
    "can_cast:",
    torch.can_cast(torch.float64, torch.float32),
    torch.can_cast(torch.float32, torch.int32),
    torch.can_cast(torch.int32, torch.float16),
    torch.can_cast(torch.complex64, torch.float32),
)
for dt in (torch.float32, torch.float64, torch.float16, torch.bfloat16):
    fi = torch.finfo(dt)
    print("finfo", dt, fi.bits, fi.eps, fi.max, fi.min, fi.tiny, fi.resolution, fi.dtype)
for dt in (torch.int8, torch.uint8, torch.int32, torch.int64):
    ii = torch.iinfo(dt)
    print("iinfo", dt, ii.bits, ii.min, ii.max, ii.dtype)
print("default finfo:", torch.finfo().eps)
d = torch.device("cpu")
print(
    "device:",
    d,
    repr(d),
    d.type,
    d.index,
    torch.device("cpu", 0),
    torch.device("cuda:1").index,
    torch.device("cuda", 0).type,
)
print(
    "device eq:",
    torch.device("cpu") == torch.device("cpu"),
    torch.device("cuda:0") == torch.device("cuda"),
    str(torch.device("meta")),
)
t = torch.zeros(2, 3)
print(
    "tensor device:",
    t.device,
    t.device == torch.device("cpu"),
    t.is_cpu,
    t.is_cuda,
    t.to("cpu") is t,
)
print("layout:", t.layout, torch.strided, t.layout == torch.strided)
img = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(2, 3, 4, 5)
print("strides:", img.stride(), img.stride(1), img.is_contiguous())
cl = img.to(memory_format=torch.channels_last)
print(
    "channels_last:",
    cl.stride(),
    cl.is_contiguous(),
    cl.is_contiguous(memory_format=torch.channels_last),
    cl.shape,
)
print("values equal:", torch.equal(cl, img), cl.contiguous().stride())
print(
    "preserve:",
    torch.empty_like(cl).stride(),
    torch.empty_like(cl, memory_format=torch.contiguous_format).stride(),
)
print("memory formats:", torch.contiguous_format, torch.channels_last, torch.preserve_format)
print(
    "transpose strides:",
    img.transpose(1, 3).stride(),
    img.transpose(1, 3).is_contiguous(),
    img[:, :, ::2].stride(),
)
print(
    "element_size:",
    img.element_size(),
    torch.zeros(1, dtype=torch.float64).element_size(),
    img.nbytes,
    img.itemsize,
)
print(
    "get_default_dtype:",
    torch.get_default_dtype(),
    torch.is_floating_point(img),
    torch.tensor(1).is_signed(),
)
