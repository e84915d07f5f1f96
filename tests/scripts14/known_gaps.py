# Lines from PyTorch tutorials and recipes that kiln does not run (yet), one per line, each
# guarded so that the rest still runs. test_scripts14.py's KNOWN_DIFFERENCES lists them
# with the file that needs the fix; a line that starts to agree with PyTorch fails that
# test until it is taken off the list.
import io

import torch
import torch.nn as nn


def attempt(name, fn):
    try:
        result = fn()
    except Exception as e:  # noqa: BLE001 - the point is to report any failure
        print(f"{name}: error {type(e).__name__}")
    else:
        print(f"{name}: ok {result}")


# "Tensors" tutorial, in-place operations: "x.copy_(y), x.t_(), will change x"
attempt("Tensor.t_", lambda: torch.arange(6.0).reshape(2, 3).t_().shape)
# in-place shape methods
attempt("Tensor.unsqueeze_", lambda: torch.zeros(2).unsqueeze_(0).shape)
attempt("Tensor.transpose_", lambda: torch.zeros(2, 3).transpose_(0, 1).shape)
# "Automatic Mixed Precision" recipe on CPU
attempt(
    "torch.autocast",
    lambda: torch.autocast(device_type="cpu", dtype=torch.bfloat16).__class__.__name__,
)
attempt("torch.amp.GradScaler", lambda: torch.amp.GradScaler("cpu", enabled=False).is_enabled())
# "A gentle introduction to torch.autograd": walking the graph
attempt(
    "grad_fn.next_functions",
    lambda: len((torch.ones(2, requires_grad=True) * 2).sum().grad_fn.next_functions),
)
# audio / signal tutorials
attempt("torch.fft.rfft", lambda: torch.fft.rfft(torch.ones(4)).shape)
attempt("torch.bincount", lambda: torch.bincount(torch.tensor([0, 1, 1, 3])).tolist())
attempt("torch.diff", lambda: torch.diff(torch.tensor([1, 4, 9])).tolist())
attempt("torch.bfloat16", lambda: torch.ones(2, dtype=torch.bfloat16).float().tolist())
# data-loading / in-place recipes
attempt("Tensor.data_ptr", lambda: torch.ones(2).data_ptr() != 0)
# the SGD state in a saved checkpoint (checkpoint recipe): PyTorch keeps momentum_buffer only
net = nn.Linear(2, 1)
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
net(torch.ones(1, 2)).sum().backward()
opt.step()
attempt("SGD state keys", lambda: sorted(opt.state_dict()["state"][0].keys()))
buffer = io.BytesIO()
torch.save(opt.state_dict(), buffer)
attempt(
    "saved SGD state round-trips", lambda: buffer.seek(0) == 0 and len(torch.load(buffer)["state"])
)
