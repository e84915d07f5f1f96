# Lines from the tutorials and docs examples of tests/scripts17 that kiln does not run
# (yet), one per line, each guarded so that the rest still runs. test_scripts17.py's
# KNOWN_DIFFERENCES lists them with the file that needs the fix; a line that starts to
# agree with PyTorch fails that test until it is taken off the list.
import torch


def attempt(name, fn):
    try:
        print(f"{name}:", fn())
    except Exception as exc:  # a gap: kiln raises where PyTorch runs
        print(f"{name}: raised {type(exc).__name__}")


# tensor_docs_cookbook: torch.searchsorted docs, a batch of sorted rows
sorted_sequence = torch.tensor([[1, 3, 5, 7, 9], [2, 4, 6, 8, 10]])
values = torch.tensor([[3, 6, 9], [3, 6, 9]])
attempt("searchsorted 2-D", lambda: torch.searchsorted(sorted_sequence, values).tolist())
attempt(
    "searchsorted 2-D right",
    lambda: torch.searchsorted(sorted_sequence, values, right=True).tolist(),
)
attempt(
    "searchsorted side/sorter",
    lambda: torch.searchsorted(
        torch.tensor([9, 1, 5, 3, 7]),
        torch.tensor([4, 7]),
        side="right",
        sorter=torch.tensor([1, 3, 2, 4, 0]),
    ).tolist(),
)
# tensor_docs_cookbook: torch.einsum docs, the sublist format
x, y = torch.arange(3.0), torch.arange(4.0)
attempt("einsum sublist", lambda: torch.einsum(x, [0], y, [1], [0, 1]).tolist())
# numpy_bridge: Tensor.numpy(force=True) detaches (and copies to the CPU) first
attempt("numpy force", lambda: torch.ones(2, requires_grad=True).numpy(force=True).tolist())
# dtype_device_idioms: torch.finfo of bfloat16
attempt(
    "finfo bfloat16", lambda: (torch.finfo(torch.bfloat16).eps, torch.finfo(torch.bfloat16).max)
)
# reproducibility_generators: where a generator draws
attempt("Generator.device", lambda: torch.Generator().device.type)
# complex_numbers: linear algebra on complex matrices
ca = torch.tensor([[1.0 + 1j, 2.0], [0.5j, 3.0 - 1j]], dtype=torch.cfloat)
cb = torch.tensor([1.0 + 0j, 1j], dtype=torch.cfloat)
attempt(
    "complex linalg.solve",
    lambda: torch.allclose(ca @ torch.linalg.solve(ca, cb), cb, atol=1e-5),
)
attempt("complex linalg.det", lambda: torch.linalg.det(ca).imag.item())
attempt("complex equal", lambda: torch.equal(ca, ca.clone()))
attempt("isreal", lambda: torch.isreal(torch.tensor([1 + 0j, 1 + 1j])).tolist())
