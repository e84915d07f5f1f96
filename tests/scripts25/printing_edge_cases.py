# More of what print(tensor) shows in real debugging sessions: negative zero, columns of
# mixed magnitude (shared scientific notation), float64 digits, wide integers aligned,
# 2-D bool and complex, NaN / inf in 2-D, summarized 3-D and wide 2-D tensors, bfloat16
# and float16 matrices, requires_grad on float64, tensors inside tuples / dicts / lists,
# set_printoptions(precision, sci_mode, edgeitems) combinations, and format() rules.
import torch

print("neg zero:", torch.tensor([-0.0, 0.0, 1.0]), torch.tensor(-0.0))
print("mixed 2-d:", torch.tensor([[1e-4, 1.0], [1000.0, 5e5]]))
print("huge:", torch.tensor([1e10, 1.0]), torch.tensor([1e-10, 1e10]))
print("all ints big:", torch.tensor([1.0, 1e6]), torch.tensor([1.0, 1e9]))
print("float64 digits:", torch.tensor([1 / 3, 2 / 3], dtype=torch.float64))
print("wide ints:", torch.tensor([[1, -1000000], [22, 3]]))
print("bool 2-d:", torch.tensor([[True, False], [False, True]]))
print("complex 2-d:", torch.tensor([[1 + 1j, -2.5j], [3.0 + 0j, 0.25 - 0.5j]]))
print("complex128:", torch.tensor([1 / 3 + 1j], dtype=torch.complex128))
print("nan 2-d:", torch.tensor([[float("nan"), 1.5], [float("-inf"), 2.0]]))
print("only nan:", torch.tensor([float("nan")]), torch.tensor(float("inf")))
print("3-d big:", torch.arange(5 * 4 * 300).view(5, 4, 300))
print("wide 2-d:", torch.linspace(0, 1, 40).view(2, 20))
print("bf16 2-d:", torch.tensor([[1.5, -2.25], [100.0, 0.01]], dtype=torch.bfloat16))
print("f16 2-d:", torch.tensor([[1.5, -2.25], [1000.0, 0.001]], dtype=torch.float16))
print("f64 grad:", torch.tensor([[1.0, 2.5]], dtype=torch.float64, requires_grad=True))
print("int8 2-d:", torch.tensor([[-128, 127], [0, 1]], dtype=torch.int8))
print("uint8 big:", torch.arange(1200).to(torch.uint8))
print("tuple:", (torch.tensor(1), torch.tensor([2.0])))
print("dict:", {"w": torch.ones(2, 2)})
print("list:", [torch.zeros(1, dtype=torch.int32)])
print("one elem:", torch.tensor([3.14159]), torch.tensor([[2]]))
print(
    "scalars:",
    torch.tensor(1e-5),
    torch.tensor(123456789.0),
    torch.tensor(-7),
    torch.tensor(0.1, dtype=torch.float64),
)
print("empty shapes:", torch.zeros(0, 2, 3), torch.ones(2, 0), torch.tensor([], dtype=torch.int64))
print("columns:", torch.tensor([[0.1, 10.0, 100.5]]), torch.tensor([[-1.0], [10.0]]))
torch.set_printoptions(precision=3, sci_mode=False)
print("p3 nosci:", torch.tensor([1e-5, 123.456789, 1e5]))
torch.set_printoptions(precision=2, edgeitems=1, threshold=3)
print("edge 1:", torch.arange(10.0), torch.arange(16).view(4, 4))
torch.set_printoptions(profile="default")
torch.set_printoptions(precision=10)
print("p10:", torch.tensor([1 / 3]), torch.tensor([1 / 3], dtype=torch.float64))
torch.set_printoptions(profile="default")
print(
    "format scalar:",
    format(torch.tensor(1.5), ".2f"),
    f"{torch.tensor(7):d}",
    f"{torch.tensor(3.0)}",
)
print("str/repr same:", str(torch.tensor([1.0])) == repr(torch.tensor([1.0])))
try:
    f"{torch.tensor([1.0, 2.0]):.2f}"
except TypeError as e:
    print("format vector:", type(e).__name__)
print("item repr:", repr(torch.tensor(0.1).item()), torch.tensor([0.1]).tolist())
print("param 2-d:", torch.nn.Parameter(torch.tensor([[0.5, -1.0]])))
