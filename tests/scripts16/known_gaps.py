# Lines from the tutorials and recipes of tests/scripts16 that kiln does not run (yet),
# one per line, each guarded so that the rest still runs. test_scripts16.py's
# KNOWN_DIFFERENCES lists them with the file that needs the fix; a line that starts to
# agree with PyTorch fails that test until it is taken off the list.
import torch


def attempt(name, fn):
    try:
        print(f"{name}:", fn())
    except Exception as exc:  # a gap: kiln raises where PyTorch runs
        print(f"{name}: raised {type(exc).__name__}")


# "Tensor Views": views share their base's storage
t = torch.rand(4, 4)
b = t.view(2, 8)
attempt("untyped_storage", lambda: t.untyped_storage().data_ptr() == b.untyped_storage().data_ptr())
attempt("storage", lambda: t.storage().data_ptr() == b.storage().data_ptr())
# the reproducibility notes
attempt(
    "are_deterministic_algorithms_enabled",
    lambda: (
        torch.use_deterministic_algorithms(True) or torch.are_deterministic_algorithms_enabled()
    ),
)
torch.use_deterministic_algorithms(False)
# char-RNN generation: target_line_tensor.unsqueeze_(-1)
attempt("Tensor.unsqueeze_", lambda: torch.tensor([1, 2]).unsqueeze_(-1).shape)
# indexing_ops: counting with bincount (a confusion matrix in one call) and histc
labels = torch.tensor([1, 3, 3, 0, 1, 3])
attempt("torch.bincount", lambda: torch.bincount(labels, minlength=6).tolist())
attempt(
    "bincount weights",
    lambda: torch.bincount(labels, weights=torch.tensor([0.5, 1.0, 1.0, 2.0, 0.5, 1.0])).tolist(),
)
preds, targets = torch.tensor([0, 1, 1, 3, 2, 2, 3, 0]), torch.tensor([0, 1, 2, 3, 2, 1, 3, 3])
attempt(
    "bincount confusion",
    lambda: torch.bincount(targets * 4 + preds, minlength=16).reshape(4, 4).tolist(),
)
attempt(
    "torch.histc",
    lambda: torch.histc(torch.tensor([1.0, 2.0, 1.0, 4.0]), bins=4, min=0, max=4).tolist(),
)
# indexing_ops: count_nonzero
x = torch.tensor([[0.0, 1.5, 0.0], [2.0, 0.0, -3.0]])
attempt(
    "torch.count_nonzero",
    lambda: (torch.count_nonzero(x).item(), torch.count_nonzero(x, dim=0).tolist()),
)
# "Tensor Views": where a view starts in its base's storage
x = torch.arange(24).reshape(2, 3, 4)
attempt(
    "storage_offset",
    lambda: (x.storage_offset(), x[1].storage_offset(), x[..., 2].storage_offset()),
)
attempt("narrow storage_offset", lambda: x.narrow(2, 1, 2).storage_offset())
attempt(
    "split storage_offset", lambda: [c.storage_offset() for c in torch.arange(10).split([3, 7])]
)
# "Introduction to torch.compile": torch._dynamo.reset() between experiments
attempt("torch._dynamo.reset", lambda: torch._dynamo.reset())
attempt("as_strided", lambda: torch.arange(10.0).as_strided((3, 3), (1, 2), 1).tolist())
attempt("torch.compiler.is_compiling", lambda: torch.compiler.is_compiling())
# indexing_ops: the most frequent value
attempt("torch.mode", lambda: torch.mode(torch.tensor([1, 2, 2, 3])).values.item())
attempt("torch.isin", lambda: torch.isin(torch.tensor([1, 2, 3, 4]), torch.tensor([2, 4])).tolist())
# "Tensor Views": sizes in bytes
attempt("nbytes / itemsize", lambda: (x.nbytes, x.itemsize))
