"""The IR: golden text, verify, JSON round trip, DOT and networkx views.

Every row of the op table (``tests/op_table.py``) has its traced graph's text in
``tests/golden/op_graphs.txt``, one ``## name`` section per row, in table order. After a
deliberate change (a new row, a new lowering of a composite) rewrite the file with
``KILN_UPDATE_GOLDEN=1 python -m pytest tests/test_ir.py`` and review its diff.
"""

import functools
import os
import pathlib
import re

import numpy as np
import pytest

import kiln
from kiln.compiler import Graph, ShapeError, interpret, load
from op_table import OPS, make_inputs, rows

GOLDEN_FILE = pathlib.Path(__file__).parent / "golden" / "op_graphs.txt"
UPDATE_GOLDEN = os.environ.get("KILN_UPDATE_GOLDEN", "") not in ("", "0")


def softmax_rows(x):
    return kiln.softmax(x, dim=-1)


GOLDEN = {
    "pythagoras": (
        lambda a, b: (a**2 + b**2) ** 0.5,
        [(4,), (4,)],
        """\
graph <lambda>(%0: f32[4], %1: f32[4]) {
  %2: f32[] = const {value=2.0}
  %3: f32[4] = pow %0, %2
  %4: f32[] = const {value=2.0}
  %5: f32[4] = pow %1, %4
  %6: f32[4] = add %3, %5
  %7: f32[] = const {value=0.5}
  %8: f32[4] = pow %6, %7
  return %8
}""",
    ),
    "matmul_bias_relu": (
        lambda x, w, b: kiln.relu(x @ w + b),
        [(2, 3), (3, 4), (4,)],
        """\
graph <lambda>(%0: f32[2, 3], %1: f32[3, 4], %2: f32[4]) {
  %3: f32[2, 4] = matmul %0, %1
  %4: f32[2, 4] = add %3, %2
  %5: f32[] = const {value=0.0}
  %6: b8[2, 4] = le %4, %5
  %7: b8[2, 4] = lt %4, %5
  %8: f32[2, 4] = where %7, %5, %4
  %9: f32[2, 4] = where %6, %8, %4
  return %9
}""",
    ),
    "sum_keepdim": (
        lambda x: x.sum(1, keepdim=True),
        [(2, 3)],
        """\
graph <lambda>(%0: f32[2, 3]) {
  %1: f32[2, 1] = sum %0 {axes=(1,), keepdims=True}
  return %1
}""",
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_text(name):
    fn, shapes, text = GOLDEN[name]
    graph = kiln.trace(fn, *[kiln.ones(*s) for s in shapes])
    assert graph.format(with_source=False) == text


def op_graph_text(op) -> str:
    tensors = [kiln.from_numpy(a) for a in make_inputs(op, np.float32, seed=3)]
    return kiln.trace(op.fn, *tensors).format(with_source=False)


@functools.cache
def golden_op_graphs() -> dict:
    """The sections of the golden file by row name (rewritten first under KILN_UPDATE_GOLDEN)."""
    if UPDATE_GOLDEN:
        sections = [f"## {op.name}\n{op_graph_text(op)}\n" for op in OPS]
        GOLDEN_FILE.parent.mkdir(exist_ok=True)
        GOLDEN_FILE.write_text("\n".join(sections))
    if not GOLDEN_FILE.exists():
        return {}
    graphs = {}
    for section in re.split(r"^## ", GOLDEN_FILE.read_text(), flags=re.MULTILINE)[1:]:
        name, _, text = section.partition("\n")
        graphs[name] = text.strip("\n")
    return graphs


@pytest.mark.parametrize("op", rows("golden"))
def test_op_table_graph_text_matches_golden_file(op):
    golden = golden_op_graphs()
    assert op.name in golden, f"no golden graph for {op.name}: run with KILN_UPDATE_GOLDEN=1"
    assert op_graph_text(op) == golden[op.name]


def test_golden_file_has_a_section_per_row_in_table_order():
    assert list(golden_op_graphs()) == [op.name for op in OPS]


def test_text_carries_user_source_line():
    graph = kiln.trace(lambda x: x * 2, kiln.ones(2))
    assert "# test_ir.py:" in str(graph)


def test_verify_catches_wrong_shape_and_order():
    g = Graph("bad")
    x = g.add_input((3,), "float32")
    y = g.add_node("exp", [x])
    y.shape = (4,)
    g.outputs = [y]
    with pytest.raises(ShapeError, match="rule gives"):
        g.verify()
    g2 = Graph("order")
    a = g2.add_input((3,), "float32")
    b = g2.add_node("exp", [a])
    c = g2.add_node("neg", [b])
    g2.nodes = [a, c, b]
    g2.outputs = [c]
    with pytest.raises(ShapeError, match="not defined before"):
        g2.verify()


def test_json_round_trip(tmp_path):
    x = kiln.randn(3, 5)
    graph = kiln.trace(softmax_rows, x)
    path = tmp_path / "g.json"
    graph.save(path)
    loaded = load(path)
    assert str(loaded) == str(graph)
    np.testing.assert_allclose(interpret(loaded, [x.numpy()])[0], interpret(graph, [x.numpy()])[0])


def test_dot_and_networkx():
    graph = kiln.trace(softmax_rows, kiln.randn(2, 3))
    dot = graph.to_dot()
    assert dot.startswith('digraph "softmax_rows"') and "->" in dot
    assert dot.count("[label=") == len(graph.nodes)
    nxg = graph.to_networkx()
    import networkx as nx

    assert nx.is_directed_acyclic_graph(nxg)
    assert nxg.number_of_nodes() == len(graph.nodes)
    assert sum(1 for _, d in nxg.nodes(data=True) if d["output"]) == 1


def test_interpreter_names_failing_node():
    g = Graph("boom")
    x = g.add_input((3,), "float32")
    i = g.add_input((2,), "int64")
    g.outputs = [g.add_node("take", [x, i], {"axis": 0})]
    with pytest.raises(IndexError, match="take"):
        interpret(g, [np.zeros(3, np.float32), np.array([0, 9])])


def test_trace_is_define_then_run():
    graph = kiln.trace(lambda a, b: a * b + 1, kiln.ones(3), kiln.ones(3))
    for k in range(3):
        a, b = np.full(3, k, np.float32), np.arange(3, dtype=np.float32)
        np.testing.assert_allclose(interpret(graph, [a, b])[0], a * b + 1)
