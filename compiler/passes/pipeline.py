"""The pass pipeline: runs named ``Graph -> Graph`` passes, verifying and recording each.

The default passes clean a traced graph up before fusion: ``simplify`` turns ``x ** 2``
into ``x * x`` and drops ``x * 1``, ``fold`` computes what depends only on constants,
``cse`` merges repeated work and ``dce`` removes what no output needs. One pass can enable
another (folding makes a constant that simplification can use; simplification leaves dead
constants behind), so ``optimize`` repeats the list until a round changes nothing, at most
``max_rounds`` times. Each round is cheap (linear in the graph); a round that changes
nothing is detected by comparing the graph's text.

Passes given to ``optimize`` should be such cleanups (safe to repeat). Passes that run
once, like fusion, go after it.

>>> import numpy as np
>>> from kiln.compiler.ir import Graph
>>> g = Graph("f")
>>> x = g.add_input((2,), "float32")
>>> one = g.add_node("mul", [g.add_const(np.float32(0.5)), g.add_const(np.float32(2.0))])
>>> g.outputs = [g.add_node("mul", [x, one])]
>>> optimized, stages = optimize(g)
>>> print(optimized.format(with_source=False))
graph f(%0: f32[2]) {
  return %0
}
>>> [name for name, _ in stages][:5]
['traced', 'simplify', 'fold', 'cse', 'dce']
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ..ir import Graph
from .cse import common_subexpression_elimination
from .dce import dead_code_elimination
from .fold import fold_constants
from .simplify import simplify

Pass = Callable[[Graph], Graph]

DEFAULT_PASSES: list[tuple[str, Pass]] = [
    ("simplify", simplify),
    ("fold", fold_constants),
    ("cse", common_subexpression_elimination),
    ("dce", dead_code_elimination),
]


def optimize(graph: Graph, passes=None, verify: bool | None = None, max_rounds: int = 4):
    """Run ``passes`` (default: ``DEFAULT_PASSES``) over ``graph`` until nothing changes.

    Returns ``(optimized_graph, stages)`` where ``stages`` is a list of
    ``(pass_name, graph_after_pass)``, starting with ``("traced", graph)``; passes of the
    second and later rounds are named ``"simplify.2"`` and so on. With ``verify`` every
    intermediate graph is checked (``Graph.verify``), so a broken pass is caught by name;
    without it only the result is. ``verify=None``: set by ``KILN_VERIFY_PASSES=1`` (the
    test suite sets it; verifying after every pass is 60% of the pipeline's time).
    """
    passes = DEFAULT_PASSES if passes is None else passes
    if verify is None:
        verify = os.environ.get("KILN_VERIFY_PASSES", "") not in ("", "0")
    stages = [("traced", graph)]
    text = graph.format(with_source=False)
    for round_number in range(1, max_rounds + 1):
        before = text
        for name, run in passes:
            graph = run(graph)
            if verify:
                _verify_after(graph, name)
            stages.append((name if round_number == 1 else f"{name}.{round_number}", graph))
        text = graph.format(with_source=False)
        if text == before:
            break
    if not verify:
        _verify_after(graph, "the pipeline")
    return graph, stages


def _verify_after(graph: Graph, name: str) -> None:
    try:
        graph.verify()
    except Exception as exc:
        raise type(exc)(f"after pass {name!r}: {exc}") from exc
