# ruff: noqa: E501  (one probe per line: a table of short calls)
# Integer and low-precision arithmetic as training and data code meets it: integer sums /
# cumsums widening to int64, wrapping int32 / uint8 arithmetic, promotion with Python
# scalars and 0-d tensors, float16 / bfloat16 reductions (accumulated in float32), long
# float32 sums / means / cumsums / cumprods (PyTorch's CPU scans accumulate in double),
# float -> int casts, rounding half to even, floor division / remainder of negatives, abs of
# the int8 minimum, NaN handling in max / maximum / fmax / argmax / sort / clamp / relu,
# dtype arguments of sum / cumsum, and mixed-dtype cat / stack / where.
import torch


def show(name, f):
    try:
        r = f()
        print(name + ":", r)
    except Exception as e:
        print(name + ":", "ERR", type(e).__name__)


i32 = torch.tensor([2**30, 2**30, 5], dtype=torch.int32)
show("int32 sum dtype", lambda: (i32.sum(), i32.sum().dtype))
show("int32 cumsum", lambda: (i32.cumsum(0), i32.cumsum(0).dtype))
show(
    "int8 prod",
    lambda: (
        torch.tensor([100, 100], dtype=torch.int8).prod(),
        torch.tensor([100, 100], dtype=torch.int8).prod().dtype,
    ),
)
show("uint8 sum", lambda: torch.tensor([200, 200], dtype=torch.uint8).sum())
show(
    "bool sum/cumsum",
    lambda: (torch.tensor([True, True]).sum(), torch.tensor([True, True]).cumsum(0)),
)
show("bool argmax", lambda: torch.tensor([False, True, True]).argmax())
show("int32 mul overflow", lambda: i32 * 4)
show("int32 + python big int", lambda: torch.tensor([1], dtype=torch.int32) + 2**40)
show("uint8 < -1", lambda: torch.tensor([0, 5], dtype=torch.uint8) < -1)
show("uint8 - 1", lambda: torch.tensor([0], dtype=torch.uint8) - 1)
show("int / float", lambda: (torch.tensor([3]) / 2.0).dtype)
show("int * 1.5", lambda: torch.tensor([3]) * 1.5)
show(
    "int32 * float64 tensor 0d",
    lambda: (torch.tensor([3], dtype=torch.int32) * torch.tensor(1.5, dtype=torch.float64)).dtype,
)
f16 = torch.full((10000,), 0.1, dtype=torch.float16)
show("f16 sum", lambda: f16.sum())
show("f16 mean", lambda: f16.mean())
show("f16 cumsum last", lambda: f16.cumsum(0)[-1])
show("f16 matmul", lambda: f16[:2048].view(1, -1) @ f16[:2048].view(-1, 1))
bf = torch.full((4096,), 0.1, dtype=torch.bfloat16)
show("bf16 sum", lambda: bf.sum())
show("bf16 dot", lambda: bf @ bf)
show("bf16 var", lambda: torch.arange(8, dtype=torch.bfloat16).var())
show("f16 softmax", lambda: torch.softmax(torch.tensor([10.0, 0.0, -10.0], dtype=torch.float16), 0))
show("f16 norm", lambda: torch.full((1000,), 300.0, dtype=torch.float16).norm())
show("f16 std", lambda: torch.full((1000,), 300.0, dtype=torch.float16).std())
show("f32 sum large", lambda: torch.full((10**6,), 0.1).sum().item())
show("f32 mean large", lambda: torch.full((10**6,), 0.1).mean().item())
show("f32 cumsum large last", lambda: torch.full((10**5,), 0.1).cumsum(0)[-1].item())
show("f32 cumsum 2-d", lambda: torch.cumsum(torch.full((3, 50000), 0.1), 1)[:, -1])
show("f32 cumprod", lambda: torch.full((3000,), 1.001).cumprod(0)[-1].item())
show("f32 logcumsumexp", lambda: torch.logcumsumexp(torch.zeros(100000), 0)[-1].item())
show("f32 sum 1e7", lambda: torch.full((10**7,), 0.1).sum().item())
show("f32 var large", lambda: (torch.arange(10**5, dtype=torch.float32) / 10**5).var().item())
show("float -> int cast", lambda: torch.tensor([-1.7, 2.9, 1e10]).to(torch.int32))
show("float -> uint8 cast", lambda: torch.tensor([-1.0, 300.0, 2.5]).to(torch.uint8))
show("nan -> int", lambda: torch.tensor([float("nan")]).long())
show("round half even", lambda: torch.round(torch.tensor([0.5, 1.5, 2.5, -0.5])))
show("int pow", lambda: torch.tensor([3]) ** 40)
show("int floor div by neg", lambda: torch.tensor([7, -7]) // torch.tensor([-2, -2]))
show("float // ", lambda: torch.tensor([7.5, -7.5]) // 2)
show("float %", lambda: torch.tensor([-7.5, 7.5]) % -2)
show("int % neg", lambda: torch.tensor([-7, 7]) % -3)
show("fmod int", lambda: torch.fmod(torch.tensor([-7, 7]), 3))
show("abs int min", lambda: torch.tensor([-128], dtype=torch.int8).abs())
show("neg uint8", lambda: -torch.tensor([1], dtype=torch.uint8))
show("sqrt int", lambda: torch.tensor([4]).sqrt())
show("exp int8", lambda: torch.tensor([1], dtype=torch.int8).exp().dtype)
show("sigmoid int", lambda: torch.tensor([0]).sigmoid())
show("mean int dim dtype", lambda: torch.tensor([[1, 2]]).float().mean(1))
show(
    "sum keepdim int", lambda: torch.tensor([[1, 2]], dtype=torch.int16).sum(1, keepdim=True).dtype
)
show("max int empty dim", lambda: torch.zeros(0, 3, dtype=torch.int64).max(0))
show("argmax empty", lambda: torch.tensor([]).argmax())
show("arange float accum", lambda: torch.arange(0, 1, 0.1)[-1].item())
show("linspace f16", lambda: torch.linspace(0, 1, 5, dtype=torch.float16))
show("sum dtype arg", lambda: torch.tensor([1.5, 2.5]).sum(dtype=torch.int32))
show(
    "cumsum dtype arg",
    lambda: torch.tensor([1, 2], dtype=torch.int8).cumsum(0, dtype=torch.float32),
)
show("clamp int with float", lambda: torch.tensor([1, 5]).clamp(max=2.5))
show("where int float", lambda: torch.where(torch.tensor([True, False]), torch.tensor([1]), 2.5))
show("cat mixed dtypes", lambda: torch.cat([torch.tensor([1]), torch.tensor([2.5])]))
show("stack int bool", lambda: torch.stack([torch.tensor([1]), torch.tensor([True])]).dtype)
show(
    "bincount float weights dtype",
    lambda: (
        torch.bincount(
            torch.tensor([0, 1]), weights=torch.tensor([0.5, 1.0], dtype=torch.float32)
        ).dtype
    ),
)
show("histc int", lambda: torch.histc(torch.tensor([1, 2, 2]).float(), bins=2))
show("topk int", lambda: torch.tensor([3, 1, 2]).topk(2))
show("sort bool", lambda: torch.tensor([True, False, True]).sort())
show(
    "unique float", lambda: torch.unique(torch.tensor([0.1, 0.2, 0.1, float("nan"), float("nan")]))
)
show("eq nan", lambda: torch.tensor([float("nan")]) == torch.tensor([float("nan")]))
show("max nan", lambda: torch.tensor([1.0, float("nan"), 3.0]).max())
show(
    "maximum nan",
    lambda: torch.maximum(torch.tensor([1.0, float("nan")]), torch.tensor([float("nan"), 2.0])),
)
show(
    "fmax nan",
    lambda: torch.fmax(torch.tensor([1.0, float("nan")]), torch.tensor([float("nan"), 2.0])),
)
show("argmax nan", lambda: torch.tensor([1.0, float("nan"), 3.0]).argmax())
show("sort nan", lambda: torch.tensor([3.0, float("nan"), 1.0]).sort())
show("clamp nan", lambda: torch.tensor([float("nan")]).clamp(0, 1))
show("relu nan", lambda: torch.relu(torch.tensor([float("nan"), -0.0])))
show("min empty error", lambda: torch.tensor([]).min())
