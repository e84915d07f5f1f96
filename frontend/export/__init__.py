"""``kiln.export``: a model as one file that runs compiled without its Python code.

PyTorch's ``torch.export`` names: ``export`` traces a function or module into an
``ExportedProgram`` (graph, weights named as in ``state_dict()``, input/output structure,
dynamic dimensions, the buffers and inputs it updates), ``save``/``load`` write and read it
as one zip (JSON and ``.npy``, nothing pickled), ``program.module()`` runs it, ``Dim``
names a dynamic dimension (``2 * dim + 1`` one that follows it) and ``ShapesCollection``
gives dynamic shapes by tensor.

>>> import kiln, kiln.nn as nn
>>> model = nn.Linear(4, 2).eval()
>>> program = kiln.export.export(model, (kiln.randn(8, 4),),
...                              dynamic_shapes=({0: kiln.export.Dim("batch", max=64)},))
>>> kiln.export.save(program, "linear.kiln")            # doctest: +SKIP
>>> served = kiln.export.load("linear.kiln").module()   # doctest: +SKIP

One file a concept: ``dynamic.py`` (``Dim``, sizes as polynomials of the dimensions),
``program.py`` (``export``, ``ExportedProgram``), ``runner.py`` (the callable module, its
checks and its cache of compiled sizes), ``archive.py`` (``save``/``load``).
"""

from .archive import FORMAT_VERSION, ExportFormatError, load, save
from .dynamic import ConstraintViolationError, Dim, ShapesCollection, dims
from .program import (
    ExportedProgram,
    ExportGraphSignature,
    InputKind,
    InputSpec,
    OutputKind,
    OutputSpec,
    TensorArgument,
    export,
)
from .runner import ExportedModule

__all__ = [
    "FORMAT_VERSION",
    "ConstraintViolationError",
    "Dim",
    "ExportFormatError",
    "ExportGraphSignature",
    "ExportedModule",
    "ExportedProgram",
    "InputKind",
    "InputSpec",
    "OutputKind",
    "OutputSpec",
    "ShapesCollection",
    "TensorArgument",
    "dims",
    "export",
    "load",
    "save",
]
