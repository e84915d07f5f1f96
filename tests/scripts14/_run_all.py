"""Run several tutorial scripts in this one process and print a JSON object
``{name: [ok, output]}`` (``output``: what the script printed, or its traceback).

    python _run_all.py torch|kiln SCRIPT...

``kiln`` imports ``_kiln_as_torch`` first, so every ``torch`` import loads kiln. One
process per side instead of two per script: importing torch costs seconds, and the test
suite must stay short. Between scripts the process-wide settings a script may change
(print options, default dtype, grad mode, distributions' argument checks, which
torch.compile turns off, deterministic algorithms) are put back.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import sys
import traceback


def _reset(torch) -> None:
    torch.set_grad_enabled(True)
    torch.set_default_dtype(torch.float32)
    with contextlib.suppress(Exception):
        torch.set_printoptions(profile="default")
    with contextlib.suppress(Exception):  # (importing torch._dynamo turns it off)
        torch.distributions.Distribution.set_default_validate_args(True)
    with contextlib.suppress(Exception):
        torch.use_deterministic_algorithms(False)


def _compile_without_inductor(torch) -> None:
    """On the PyTorch side, ``torch.compile`` keeps Dynamo (its tracing, guards, graph
    breaks, ``fullgraph`` errors and recompilations are what the scripts print and kiln must
    match) but runs the captured graphs eagerly instead of through Inductor's generated C++:
    Inductor computes the same values within rounding and costs a C++ compiler run per
    graph, about half a minute of the suite on two cores. (Dynamo's ``"eager"`` backend, not
    ``"aot_eager"``: every script printed the same with both, and AOTAutograd's tracing cost
    4 s of the suite's CPU.)"""
    compile_ = torch.compile

    def compile(model=None, *, backend="inductor", mode=None, options=None, **kwargs):
        if backend == "inductor":
            backend, mode, options = "eager", None, None
        kwargs.update(backend=backend, mode=mode, options=options)
        if model is None:
            return lambda fn: compile_(fn, **kwargs)
        return compile_(model, **kwargs)

    torch.compile = compile


def _shut_down_workers(namespace: dict) -> None:
    """Stop the worker processes of the script's persistent ``DataLoader`` iterators now.
    Left to Python's cyclic garbage collector, torch's iterator is finalized after the
    queues it shuts its workers down through, and waits out the join timeout for each worker
    (5 s each: ``scripts19/distributed_sampler_loader.py`` held the suite 10 s); run as a
    script, torch's atexit path shuts them down at once."""
    for value in list(namespace.values()):
        iterator = getattr(value, "_iterator", None)
        with contextlib.suppress(Exception):
            iterator._shutdown_workers()


def main() -> int:
    mode, scripts = sys.argv[1], sys.argv[2:]
    here = os.path.dirname(os.path.abspath(__file__))
    if mode == "kiln":
        sys.path.insert(0, here)
        import _kiln_as_torch  # noqa: F401  (installs the import hook)
    import torch

    if mode == "torch":
        _compile_without_inductor(torch)
    results = {}
    real_stdout = sys.stdout
    for script in scripts:
        name = os.path.splitext(os.path.basename(script))[0]
        out = io.StringIO()
        sys.argv = [script]
        ok = True
        try:
            with contextlib.redirect_stdout(out):
                _shut_down_workers(runpy.run_path(script, run_name="__main__"))
        except BaseException:  # (a script's failure is its test's, not the runner's)
            ok = False
            out.write("\n" + traceback.format_exc())
        finally:
            _reset(torch)
        results[name] = [ok, out.getvalue()]
    real_stdout.write(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
