"""``ExportedModule``: an exported program as a module that runs compiled.

The program's weights become the module's parameters and buffers under their
``state_dict`` names (``load_state_dict`` works, and a call reads them afresh), so the
module needs nothing of the model's Python class. A call checks its inputs against the
exported signature (messages in PyTorch's words: ``Expected input at x.shape[1] to be
equal to 6, but got 5``), picks the compiled variant for the sizes of the dynamic dimensions, and
runs it. Variants are made on first use from the symbolic graph (``ExportedProgram.
instantiate``) and ``cache_size`` of them are kept (the oldest is dropped); kernels
take their sizes as arguments, so a new size mostly reuses kernels from the disk cache.
After a call, the state the program updates (a buffer, a parameter, an input the forward
changed in place) is written back into the module's tensors and the caller's inputs.

The per-call path is kept short for batch 1, where it is most of the time: no tree
flattening when the inputs are plain tensors, no checks for inputs of a kind (array type,
shape, dtype) already checked, one dictionary lookup for the run function, the arrays
handed straight to the executor.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from ..autograd.grad_mode import is_grad_enabled
from ..jit.signature import unflatten
from ..nn.module import Module
from ..nn.parameter import Parameter
from ..tensor import Tensor, _wrap
from .dynamic import format_linear, substitute
from .program import ExportedProgram, decode_structure, flatten_call

# how many kinds of inputs (shapes, dtypes) the module remembers as already checked
ACCEPTED_KINDS = 64


class ExportedModule(Module):
    """``ExportedProgram.module()``: call it like the exported function or module."""

    def __init__(self, program: ExportedProgram, cache_size: int):
        super().__init__()
        setter = object.__setattr__
        setter(self, "program", program)
        setter(self, "cache_size", max(1, int(cache_size)))
        setter(self, "compile_count", 0)
        setter(self, "_variants", OrderedDict())  # sizes -> run function, oldest first
        setter(self, "_accepted", {})  # kinds of inputs checked before -> run function
        setter(self, "_lock", threading.Lock())
        sources = []
        user = iter(k for k, spec in enumerate(program.in_spec) if spec[0] == "tensor")
        for kind, name in program.input_kinds:
            if kind == "user_input":
                sources.append(next(user))
            else:
                sources.append(self._register(kind, name, program.state[name]))
        setter(self, "_sources", sources)
        # the updates the program writes back after a call: (input or state, graph output)
        paths = {spec[1]: k for k, spec in enumerate(program.in_spec)}
        state = {name: sources[k] for k, (_, name) in enumerate(program.input_kinds)}
        writebacks = []
        for kind, target, index in program.mutations:
            source = paths[target] if kind == "user_input_mutation" else state[target]
            writebacks.append((source, index))
        setter(self, "_writebacks", writebacks)
        setter(self, "training", program.training)
        checks, consts = [], []
        for k, spec in enumerate(program.in_spec):
            if spec[0] == "tensor":
                _, path, shape, dtype = spec
                static = [(a, s) for a, s in enumerate(shape) if isinstance(s, int)]
                # (axis, root dimension, scale, offset): size = scale * root + offset
                dynamic = [
                    (a, s, 1, 0) if isinstance(s, str) else (a, *s)
                    for a, s in enumerate(shape)
                    if not isinstance(s, int)
                ]
                checks.append((k, path, len(shape), np.dtype(dtype), static, dynamic))
            else:
                consts.append((k, spec[1], spec[2]))
        setter(self, "_checks", checks)
        setter(self, "_consts", consts)
        setter(self, "_dim_names", sorted(program.dims))
        setter(self, "_structure", program.in_structure)
        setter(self, "_flat", len(checks) == len(program.in_spec) and _flat(program))
        setter(self, "_out_structure", decode_structure(program.out_structure))
        setter(self, "_out_spec", [(k, v) for k, v, _ in program.out_spec if k != "check"])
        # (flag output, message): PyTorch's RuntimeError when a flag is set (a zero divisor)
        setter(self, "_raises", [(v, m) for k, v, m in program.out_spec if k == "check"])
        # outputs that are numbers following the sizes (x.shape[0], x.shape): polynomials
        setter(self, "_sized_outputs", any(isinstance(v, dict) for _, v in self._out_spec))
        setter(
            self,
            "_single_output",
            self._out_structure == "*" and self._out_spec[0][0] == "out" and not writebacks,
        )

    def _register(self, kind: str, name: str, array: np.ndarray):
        """Add one weight under its dotted name; return where a call reads it from."""
        owner = self
        *path, leaf = name.split(".")
        for part in path:
            child = owner._modules.get(part)
            if child is None:
                child = Module()
                owner.add_module(part, child)
            owner = child
        tensor = _wrap(array)
        if kind == "parameter":
            owner.register_parameter(leaf, Parameter(tensor, requires_grad=False))
            return (owner._parameters, leaf)
        persistent = kind == "buffer" and name not in self.program.transient
        owner.register_buffer(leaf, tensor, persistent=persistent)
        return (owner._buffers, leaf)

    # -------------------------------------------------------------- calling
    def __call__(self, *args, **kwargs):
        if self._forward_hooks or self._forward_pre_hooks:
            return super().__call__(*args, **kwargs)
        return self.forward(*args, **kwargs)  # no hooks, no guards to record: the short path

    def forward(self, *args, **kwargs):
        if self._flat and not kwargs:
            values = args
            if len(values) != len(self._checks):
                raise TypeError(
                    f"{self.program.name}: the exported program takes {len(self._checks)} "
                    f"positional tensors, got {len(values)}"
                )
            # inputs of a kind already checked (array type, shape, dtype, no grad) skip the
            # checks: the common serving call costs one tuple and one lookup here
            try:
                kind = tuple(
                    [(type(v._data), v._data.shape, v._data.dtype, v.requires_grad) for v in args]
                )
            except AttributeError:
                kind = None
            run = self._accepted.get(kind)
            if run is None:
                run = self._run_function(self._check(values))
                if not any(v.requires_grad for v in args):
                    if len(self._accepted) >= ACCEPTED_KINDS:
                        self._accepted.clear()
                    self._accepted[kind] = run
        else:
            structure, leaves = flatten_call(args, kwargs)
            if structure != self._structure:
                raise TypeError(
                    f"{self.program.name}: the inputs are structured as {structure}, the "
                    f"program was exported for {self._structure}"
                )
            values = [v for _, v in leaves]
            run = self._run_function(self._check(values))
        results = run(
            [values[s]._data if type(s) is int else s[0][s[1]]._data for s in self._sources]
        )
        for k, message in self._raises:  # (kiln.jit's runtime checks: jit/compiled.py)
            if results[k].any():
                raise RuntimeError(message)
        if self._single_output:
            return _wrap(results[0])
        if self._writebacks:  # buffers (self.count += 1), inputs (x.add_)
            targets = [
                values[source] if type(source) is int else source[0][source[1]]
                for source, _ in self._writebacks
            ]
            # a result may be a target's own array (self.prev = self.last; self.last = x):
            # copied first, or writing one target would change another's new value (or an
            # output the caller holds)
            arrays = [t._data for t in targets]
            results = [
                np.array(r, copy=True) if any(np.may_share_memory(r, a) for a in arrays) else r
                for r in results
            ]
            for target, (_, index) in zip(targets, self._writebacks):
                target._data[...] = results[index]
                target._version += 1
        out_spec = self._out_spec
        if self._sized_outputs:  # (the raw polynomial was returned before)
            sizes = dict(zip(self._dim_names, self._check(values)))
            out_spec = [(kind, substitute(v, sizes)) for kind, v in out_spec]
        out = [_wrap(results[v]) if kind == "out" else v for kind, v in out_spec]
        return unflatten(self._out_structure, iter(out))

    def _run_function(self, key: tuple):
        """The run function of the variant compiled for the dynamic sizes ``key``."""
        run = self._variants.get(key)
        return run if run is not None else self._compile(key)

    def _check(self, values) -> tuple:
        """Check the inputs against the signature; the sizes of the dynamic dimensions."""
        sizes: dict = {}
        for k, path, ndim, dtype, static, dynamic in self._checks:
            value = values[k]
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"Expected input at {path} to be a tensor, got {type(value).__name__}"
                )
            data = value._data
            if type(data) is not np.ndarray:
                raise RuntimeError(f"Expected input at {path} to be on cpu, got {value.device}")
            if data.dtype != dtype:
                raise RuntimeError(
                    f"Expected input at {path} to have dtype {dtype.name}, got {data.dtype.name}"
                )
            if data.ndim != ndim:
                raise RuntimeError(
                    f"Expected input at {path} to have {ndim} dimensions, got {data.ndim} "
                    f"(shape {list(data.shape)})"
                )
            if value.requires_grad and is_grad_enabled():
                raise NotImplementedError(
                    f"{self.program.name}: an exported program runs inference only, but the "
                    f"input at {path} requires grad (detach it, or call under kiln.no_grad())"
                )
            shape = data.shape
            for axis, size in static:
                if shape[axis] != size:
                    raise RuntimeError(
                        f"Expected input at {path}.shape[{axis}] to be equal to {size}, but "
                        f"got {shape[axis]}"
                    )
            for axis, name, scale, offset in dynamic:
                size = shape[axis]
                value, remainder = divmod(size - offset, scale)
                if remainder:
                    raise RuntimeError(
                        f"Expected input at {path}.shape[{axis}] to be of the form "
                        f"{format_linear(name, scale, offset)}, where {name} is an integer, "
                        f"but got {size}"
                    )
                seen = sizes.setdefault(name, value)
                if seen != value:
                    given = (
                        f"the size of dimension {name!r} in another input"
                        if scale == 1 and offset == 0
                        else f"{format_linear(name, scale, offset)}, where {name} = {seen} "
                        "in another input"
                    )
                    raise RuntimeError(
                        f"Expected input at {path}.shape[{axis}] to be equal to "
                        f"{scale * seen + offset} ({given}), but got {size}"
                    )
        for k, path, expected in self._consts:
            if values[k] != expected:
                raise RuntimeError(
                    f"Expected input at {path} to be equal to {expected!r}, but got {values[k]!r}"
                )
        for name, size in sizes.items():
            low, high = self.program.dims[name]
            if size < low:
                raise RuntimeError(
                    f"Expected input dimension {name!r} to be >= {low}, but got {size}"
                )
            if size > high:
                raise RuntimeError(
                    f"Expected input dimension {name!r} to be <= {high}, but got {size}"
                )
        return tuple(sizes[n] for n in self._dim_names)

    def _compile(self, key: tuple):
        with self._lock:
            run = self._variants.get(key)
            if run is None:
                executable = self.program.compile(dict(zip(self._dim_names, key)))
                run = executable.program.run if executable.program is not None else executable.run
                object.__setattr__(self, "compile_count", self.compile_count + 1)
                self._variants[key] = run
                while len(self._variants) > self.cache_size:
                    self._variants.popitem(last=False)  # the oldest compiled size
                    self._accepted.clear()  # it may point to the dropped variant
            return run

    def train(self, mode: bool = True):
        """The mode is the exported module's: the graph was traced in it (a batch-norm's
        statistics, a dropout), so switching it would change nothing it computes."""
        if mode != self.training:
            was = "training" if self.training else "eval"
            raise NotImplementedError(
                f"{self.program.name}: calling {'train' if mode else 'eval'}() on an exported "
                f"program is not supported: it was exported in {was} mode and runs that graph. "
                f"Export the model again after calling {'train' if mode else 'eval'}() on it"
            )
        return self

    @property
    def graph(self):
        """The program's graph at the example's sizes (torch's ``ep.module().graph``)."""
        return self.program.graph

    def extra_repr(self) -> str:
        dims = self.program.describe_dims()
        return f"program={self.program.name}" + (f", {dims}" if dims else "")


def _flat(program: ExportedProgram) -> bool:
    """Whether the program takes positional tensors only (the call needs no flattening)."""
    args, kwargs = program.in_structure
    return not kwargs and all(s == "*" for s in args)
