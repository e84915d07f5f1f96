"""Look inside kiln.jit: the traced graph, the optimized graph, every pass, the kernels.

    python examples/inspect_graph.py --out graph_dump

prints the graph of a small function as traced (one SSA line per operation, with the
source line that produced it), the graph after the optimization passes (constant folding,
CSE, fusion, ...), the list of stages, and the first generated kernel; writes every stage
(text and DOT) and every kernel into ``--out``, plus ``graph.dot`` of the optimized graph,
rendered to ``graph.png`` when Graphviz's ``dot`` is installed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess

import kiln


def gelu_layer(x, w, b):
    """A dense layer with the tanh GELU and a mean square: a chain the fuser merges."""
    h = x @ w + b
    inner = 0.7978845608 * (h + 0.044715 * h**3)
    y = 0.5 * h * (1.0 + kiln.tanh(inner))
    return (y * y).mean(dim=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="graph_dump", help="folder for stages and kernels")
    args = parser.parse_args()

    kiln.manual_seed(0)
    x, w, b = kiln.randn(4, 8), kiln.randn(8, 16), kiln.randn(16)

    print("=== traced graph (kiln.trace) ===")
    print(kiln.trace(gelu_layer, x, w, b).format())

    compiled = kiln.jit(gelu_layer)
    inspection = compiled.inspect(x, w, b)
    print("\n=== optimized graph ===")
    print(inspection.optimized.format())
    print("\n=== stages ===")
    for name, graph in inspection.stages:
        print(f"{name:>12}: {len(graph.nodes)} nodes")
    print(f"\n=== {len(inspection.kernels)} generated kernel(s); the first ===")
    print(inspection.kernels[0] if inspection.kernels else "(none: the graph is interpreted)")

    inspection.dump(args.out)
    dot_path = os.path.join(args.out, "graph.dot")
    with open(dot_path, "w") as f:
        f.write(inspection.optimized.to_dot())
    print(
        f"\nwrote {len(inspection.stages)} stages and {len(inspection.kernels)} kernels "
        f"to {args.out}/, DOT file {dot_path}"
    )
    if shutil.which("dot"):
        png = os.path.join(args.out, "graph.png")
        subprocess.run(["dot", "-Tpng", dot_path, "-o", png], check=True)
        print(f"rendered {png}")
    else:
        print("(install Graphviz's `dot` to render it: dot -Tpng graph.dot -o graph.png)")

    result = compiled(x, w, b)
    eager = gelu_layer(x, w, b)
    print(f"\ncompiled == eager: {bool(kiln.allclose(result, eager, rtol=1e-5, atol=1e-6))}")


if __name__ == "__main__":
    main()
