"""``save`` and ``load``: an exported program as one zip file, nothing pickled.

The file holds ``kiln_export/version`` (the format number), ``kiln_export/program.json``
(the symbolic graph, the signature, the input and output structure, the dynamic
dimensions) and one ``kiln_export/tensors/<k>.npy`` per weight, buffer or constant (the
JSON lists their names in order). ``.npy`` arrays are read with ``allow_pickle=False``, so
loading a file runs no code from it. A file written by a newer kiln (a larger format
number) is refused with a message that says so, rather than misread.

>>> import io, kiln
>>> program = kiln.export.export(lambda x: x * 2, (kiln.ones(3),))
>>> buffer = io.BytesIO(); save(program, buffer)
>>> load(buffer).module()(kiln.ones(3))
tensor([2., 2., 2.])
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections import OrderedDict

import numpy as np

from .program import ExportedProgram

# 2: a constant of one value is stored as its value and shape (``__fill__``, ir.py)
# 3: state the program updates (``mutations``: written back after each call) and derived
#    dimensions (``[root, scale, offset]`` sizes); a file without them is written as 2, so
#    that an older kiln reads it, and refuses a file it would run without them
FORMAT_VERSION = 3
_ROOT = "kiln_export"


class ExportFormatError(RuntimeError):
    """A file that is not an exported kiln program, or one this kiln cannot read."""


def save(program: ExportedProgram, f, *, extra_files=None, opset_version=None, pickle_protocol=2):
    """Write ``program`` to ``f`` (a path or a binary file object) as one zip file.

    ``extra_files`` (name -> str or bytes) are stored beside it, as in ``torch.export.save``
    (``opset_version`` and ``pickle_protocol`` are accepted for its signature: kiln's
    operator set is its primitives', and nothing is pickled).
    """
    if not isinstance(program, ExportedProgram):
        raise TypeError(
            f"kiln.export.save: expected an ExportedProgram, got {type(program).__name__}"
        )
    target = f if hasattr(f, "write") else open(os.fspath(f), "wb")
    try:
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{_ROOT}/version", str(_version_needed(program)))
            archive.writestr(f"{_ROOT}/program.json", json.dumps(program.to_json()))
            for k, array in enumerate(program.state.values()):
                buffer = io.BytesIO()
                # (np.ascontiguousarray makes a 0-d array 1-d: keep the shape)
                contiguous = np.ascontiguousarray(array).reshape(np.shape(array))
                np.save(buffer, contiguous, allow_pickle=False)
                archive.writestr(f"{_ROOT}/tensors/{k}.npy", buffer.getvalue())
            for k, array in enumerate(program.examples or ()):  # (example_inputs)
                buffer = io.BytesIO()
                np.save(buffer, np.ascontiguousarray(array).reshape(np.shape(array)))
                archive.writestr(f"{_ROOT}/examples/{k}.npy", buffer.getvalue())
            for name, content in (extra_files or {}).items():
                archive.writestr(f"{_ROOT}/extra/{name}", content)
    finally:
        if target is not f:
            target.close()


def _version_needed(program: ExportedProgram) -> int:
    derived = any(
        isinstance(size, list)
        for spec in program.in_spec
        if spec[0] == "tensor"
        for size in spec[2]
    )
    return 3 if program.mutations or derived else 2


def load(f, *, extra_files=None, expected_opset_version=None) -> ExportedProgram:
    """Read a program written by ``save`` (a path or a binary file object).

    ``extra_files`` (a dict whose keys name files stored by ``save``) is filled in place.
    """
    if hasattr(f, "seek"):
        f.seek(0)
    try:
        archive = zipfile.ZipFile(f if hasattr(f, "read") else os.fspath(f))
    except zipfile.BadZipFile as exc:
        raise ExportFormatError(f"kiln.export.load: {f!r} is not an exported kiln program") from exc
    with archive:
        names = set(archive.namelist())
        if f"{_ROOT}/version" not in names:
            raise ExportFormatError(f"kiln.export.load: {f!r} is not an exported kiln program")
        version = int(archive.read(f"{_ROOT}/version"))
        if version > FORMAT_VERSION:
            raise ExportFormatError(
                f"kiln.export.load: {f!r} was written in export format {version} by a newer "
                f"kiln; this kiln reads format {FORMAT_VERSION} and older. Upgrade kiln"
            )
        data = json.loads(archive.read(f"{_ROOT}/program.json"))
        state = OrderedDict()
        for k, name in enumerate(data["state_names"]):
            with archive.open(f"{_ROOT}/tensors/{k}.npy") as member:
                state[name] = np.load(io.BytesIO(member.read()), allow_pickle=False)
        examples = None
        if data.get("examples"):
            count = sum(1 for spec in data["in_spec"] if spec[0] == "tensor")
            examples = []
            for k in range(count):
                with archive.open(f"{_ROOT}/examples/{k}.npy") as member:
                    examples.append(np.load(io.BytesIO(member.read()), allow_pickle=False))
        for name in extra_files or {}:
            extra_files[name] = archive.read(f"{_ROOT}/extra/{name}").decode()
    return ExportedProgram.from_json(data, state, examples)
