"""kiln's lazily loaded names (``kiln.distributions``, ``kiln.optim``, ``kiln.random``...)
read for the first time inside a jitted function: the trace loads them instead of reporting
"changed kiln.<name> while it was traced (is now a module (was a Missing))". Each name is
read for the first time in a fresh process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

LAZY = (
    "random distributions optim masked sparse signal testing export hub "
    "serialization library accelerator fx"
).split()


def test_first_reads_of_lazy_names_inside_a_trace():
    script = textwrap.dedent(
        f"""
        import kiln
        assert all(name not in vars(kiln) for name in {LAZY!r}), "loaded before the test"
        x = kiln.ones(3)
        counts = []
        for name in {LAZY!r}:
            namespace = {{"kiln": kiln}}
            exec(f"def f(x):\\n    kiln.{{name}}\\n    return x * 2", namespace)
            jitted = kiln.jit(namespace["f"])
            for _ in range(3):
                assert jitted(x).tolist() == [2.0, 2.0, 2.0]
            counts.append(jitted.trace_count)
        compiled = kiln.compile(lambda x: kiln.distributions.Normal(x, 1.0).log_prob(x))
        assert abs(compiled(x).sum().item() - 3 * -0.9189385) < 1e-5
        print(counts)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == str([1] * len(LAZY))
