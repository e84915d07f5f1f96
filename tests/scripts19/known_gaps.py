# Lines from the tutorials and recipes of tests/scripts19 that kiln does not run (yet),
# one per line, each guarded so that the rest still runs. test_scripts19.py's
# KNOWN_DIFFERENCES lists them with the file that needs the fix; a line that starts to
# agree with PyTorch fails that test until it is taken off the list.
import torch
import torch.nn as nn


def attempt(name, fn):
    try:
        print(f"{name}:", fn())
    except Exception as exc:  # a gap: kiln raises where PyTorch runs
        print(f"{name}: raised {type(exc).__name__}")


# "Dynamic Quantization" recipe: quantize the Linear layers of a model to int8
model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
attempt(
    "quantize_dynamic",
    lambda: (
        type(
            torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8)[0]
        ).__name__
    ),
)
# "torch.fx" tutorials: symbolic tracing of a module into a GraphModule
attempt(
    "fx symbolic_trace",
    lambda: [n.op for n in torch.fx.symbolic_trace(nn.Sequential(nn.Linear(2, 2))).graph.nodes],
)
# "Getting Started with Nested Tensors"
attempt(
    "nested_tensor",
    lambda: torch.nested.nested_tensor([torch.ones(2), torch.ones(3)]).is_nested,
)
# sparse tensors (the GCN example, "torch.sparse" docs)
attempt("to_sparse", lambda: torch.eye(3).to_sparse()._nnz())
