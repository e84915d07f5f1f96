"""``kiln.func``: composable function transforms, with torch.func's names and semantics.

``vmap`` and forward mode (``jvp``, ``jacfwd``) are interpreters on kiln's interpreter stack
with one batching rule and one JVP rule per primitive (``batching.py``, ``jvp_rules.py``);
``grad``, ``vjp`` and ``jacrev`` run the autograd tape on the innermost level. They nest in
any order and compile under ``kiln.jit`` into one graph.

>>> import kiln
>>> from kiln.func import grad, vmap
>>> per_sample = vmap(grad(lambda w, x: (w * x).sum()), in_dims=(None, 0))
>>> per_sample(kiln.ones(2), kiln.tensor([[1.0, 2.0], [3.0, 4.0]]))
tensor([[1., 2.],
        [3., 4.]])
"""

from . import batching as _batching  # noqa: F401  (attaches the batching rules)
from . import jvp_rules as _jvp_rules  # noqa: F401  (attaches the JVP rules)
from .module_state import functional_call, stack_module_state
from .transforms import grad, grad_and_value, hessian, jacfwd, jacrev, jvp, linearize, vjp, vmap

__all__ = [
    "functional_call",
    "grad",
    "grad_and_value",
    "hessian",
    "jacfwd",
    "jacrev",
    "jvp",
    "linearize",
    "stack_module_state",
    "vjp",
    "vmap",
]
