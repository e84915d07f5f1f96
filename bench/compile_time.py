"""Compile time of ``kiln.jit`` against graph size: long unrolled chains and deep MLPs.

    python bench/compile_time.py                    # every case
    python bench/compile_time.py chain:1000 mlp:200 # only these
    python bench/compile_time.py --markdown out.md  # also write the table as Markdown

Cases (``NAME:STEPS``):

* ``chain``: a pure elementwise chain, ``h = tanh(h * 0.9 + x)`` unrolled STEPS times (one
  long fused loop before kernel splitting);
* ``rnn``: a tanh recurrence ``h = tanh(h @ W + x)`` unrolled STEPS times (a matmul and its
  epilogue per step);
* ``mlp``: an MLP of STEPS ``Linear(64, 64) + ReLU`` layers.

Each case runs in a fresh process with an empty kernel cache (``KILN_CACHE_DIR`` a new
temporary folder), so the time includes generating and compiling every kernel: the
cold compile a user sees once. The first call (trace + passes + codegen + Numba) is
timed, then the result is checked against eager execution.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

CASES = ["chain:10", "chain:100", "chain:1000", "rnn:10", "rnn:100", "rnn:1000", "mlp:200"]


def build(kind: str, steps: int):
    """(function, arguments) for one case."""
    import kiln

    kiln.manual_seed(0)
    if kind == "chain":

        def chain(h, x):
            for _ in range(steps):
                h = kiln.tanh(h * 0.9 + x)
            return h

        return chain, (kiln.randn(64, 64), kiln.randn(64, 64))
    if kind == "rnn":
        w = kiln.randn(64, 64) * 0.1

        def rnn(h, x):
            for _ in range(steps):
                h = kiln.tanh(h @ w + x)
            return h

        return rnn, (kiln.randn(16, 64), kiln.randn(16, 64))
    if kind == "mlp":
        layers = []
        for _ in range(steps):
            layers += [kiln.nn.Linear(64, 64), kiln.nn.ReLU()]
        model = kiln.nn.Sequential(*layers)

        def mlp(x):
            with kiln.no_grad():
                return model(x)

        return mlp, (kiln.randn(16, 64),)
    raise ValueError(f"unknown case {kind!r}")


def run_case(case: str) -> dict:
    """Time one case in this process (called in a child process)."""
    import kiln

    kind, steps = case.split(":")
    function, arguments = build(kind, int(steps))
    start = time.perf_counter()
    compiled = kiln.jit(function)
    result = compiled(*arguments)
    seconds = time.perf_counter() - start
    again = time.perf_counter()
    compiled(*arguments)
    call = time.perf_counter() - again
    expected = function(*arguments)
    error = float(np.max(np.abs(result.numpy() - expected.numpy())))
    return {"case": case, "compile_s": seconds, "call_ms": call * 1e3, "max_error": error}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", default=CASES)
    parser.add_argument("--markdown", metavar="FILE")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_case(args.child)))
        return 0
    rows = []
    for case in args.cases:
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, KILN_CACHE_DIR=cache)
            done = subprocess.run(
                [sys.executable, __file__, "--child", case],
                env=env,
                capture_output=True,
                text=True,
            )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["?"])[-1]
            row = {"case": case, "failed": last}
        else:
            row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(_line(row), flush=True)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write("| case | cold compile (s) | call (ms) | max abs error vs eager |\n")
            f.write("|---|---:|---:|---:|\n")
            for row in rows:
                if "failed" in row:
                    f.write(f"| {row['case']} | failed: {row['failed']} | | |\n")
                else:
                    f.write(
                        f"| {row['case']} | {row['compile_s']:.2f} | {row['call_ms']:.3f} | "
                        f"{row['max_error']:.1e} |\n"
                    )
    return 0


def _line(row: dict) -> str:
    if "failed" in row:
        return f"{row['case']:>12}: FAILED {row['failed']}"
    return (
        f"{row['case']:>12}: compile {row['compile_s']:7.2f} s, call {row['call_ms']:8.3f} ms, "
        f"max |jit - eager| {row['max_error']:.1e}"
    )


if __name__ == "__main__":
    sys.exit(main())
