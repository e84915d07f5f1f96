# The tensor creation ops of the "Tensors" docs and their everyday pitfalls:
# torch.tensor copies while from_numpy / as_tensor share memory, zeros / ones / full /
# *_like, arange with float steps (length), linspace / logspace, eye, empty shapes,
# default dtype inference and set_default_dtype, complex, clone vs detach, type casts
# (.int(), .long(), .half(), .to(), .type()), item / tolist / numpy, is_tensor / numel.
import numpy as np
import torch

arr = np.array([1.0, 2.0, 3.0])
t_copy = torch.tensor(arr)
t_share = torch.from_numpy(arr)
t_as = torch.as_tensor(arr)
arr[0] = 100.0
print(
    "tensor copies:",
    t_copy[0].item(),
    "from_numpy shares:",
    t_share[0].item(),
    "as_tensor shares:",
    t_as[0].item(),
)
print(
    "dtypes:",
    t_copy.dtype,
    torch.as_tensor([1, 2]).dtype,
    torch.as_tensor(arr, dtype=torch.float32).dtype,
)
n = t_share.numpy()
n[1] = -1.0
print("numpy() shares:", t_share[1].item())
print(
    "zeros/ones/full:", torch.zeros(2, 3), torch.ones(2, dtype=torch.int32), torch.full((2, 2), 7.0)
)
print("full int:", torch.full((2,), 3).dtype, torch.full((2,), True).dtype)
x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
print(
    "like:",
    torch.zeros_like(x),
    torch.ones_like(x, dtype=torch.long),
    torch.full_like(x, 0.5),
    torch.empty_like(x).shape,
)
print(
    "arange:",
    torch.arange(5),
    torch.arange(1, 4),
    torch.arange(0, 1, 0.25),
    len(torch.arange(0, 1, 0.1)),
)
print("arange dtype:", torch.arange(5).dtype, torch.arange(0.0, 2).dtype, torch.arange(1, 2.5, 0.5))
print("linspace:", torch.linspace(0, 1, 5), torch.linspace(-1, 1, 3, dtype=torch.float64))
print("logspace:", torch.logspace(0, 2, 3), torch.logspace(0, 3, 4, base=2))
print("eye:", torch.eye(3), torch.eye(2, 3))
print("empty:", torch.empty(0).shape, torch.empty(2, 0).numel(), torch.tensor([]).dtype)
print(
    "inference:",
    torch.tensor(1).dtype,
    torch.tensor(1.0).dtype,
    torch.tensor(True).dtype,
    torch.tensor([1, 2.0]).dtype,
    torch.tensor(1 + 1j).dtype,
)
print(
    "np scalar inference:",
    torch.tensor(np.float64(1.0)).dtype,
    torch.tensor(np.int32(3)).dtype,
    torch.tensor([np.float32(1.0)]).dtype,
)
torch.set_default_dtype(torch.float64)
print(
    "default float64:",
    torch.tensor([1.0]).dtype,
    torch.zeros(1).dtype,
    torch.arange(0.0, 1).dtype,
    torch.tensor(1 + 1j).dtype,
)
torch.set_default_dtype(torch.float32)
print("default back:", torch.get_default_dtype())
c = torch.complex(torch.tensor([1.0]), torch.tensor([2.0]))
print("complex:", c, c.real, c.imag, c.abs(), torch.polar(torch.tensor([2.0]), torch.tensor([0.0])))
src = torch.tensor([1.0, 2.0], requires_grad=True)
cl = src.clone()
de = src.detach()
print(
    "clone:",
    cl.requires_grad,
    cl.grad_fn is not None,
    "detach:",
    de.requires_grad,
    de.data_ptr() == src.data_ptr(),
)
y = torch.tensor([1.7, -2.3, 3.5])
print("casts:", y.int(), y.long(), y.half(), y.double().dtype, y.bool(), y.to(torch.int16).dtype)
print("type():", y.type(), y.type(torch.int64), y.int().type())
print(
    "to other:", y.to(torch.zeros(1, dtype=torch.float64)).dtype, y.to("cpu", torch.float16).dtype
)
print(
    "item/tolist:",
    torch.tensor(2.5).item(),
    type(torch.tensor(3).item()).__name__,
    x.tolist(),
    torch.tensor(True).item(),
)
print(
    "is_tensor:",
    torch.is_tensor(x),
    torch.is_tensor([1]),
    torch.numel(x),
    torch.is_floating_point(x),
    torch.is_complex(c),
)
print("new_tensor:", x.new_tensor([1, 2]).dtype, x.new_full((2,), 3).dtype, x.new_empty(3).shape)
print("range of uint8:", torch.tensor([250], dtype=torch.uint8) + 10)
print("int overflow wrap:", torch.tensor([127], dtype=torch.int8) + 1)
print(
    "from list of tensors:",
    torch.tensor([torch.tensor(1.0).item(), 2.0]),
    torch.stack([torch.tensor(1.0), torch.tensor(2.0)]),
)
print("tril/triu indices:", torch.tril_indices(3, 3), torch.triu_indices(2, 3, offset=1))
print(
    "heaviside/diag:", torch.diag(torch.tensor([1, 2])), torch.diag(torch.arange(9).view(3, 3), 1)
)
print("meshgrid:", torch.meshgrid(torch.arange(2), torch.arange(3), indexing="xy")[0])
print("cartesian_prod:", torch.cartesian_prod(torch.tensor([1, 2]), torch.tensor([3, 4])))
