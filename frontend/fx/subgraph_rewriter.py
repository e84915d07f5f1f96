"""``replace_pattern``: find every occurrence of a pattern function's graph in a
GraphModule and replace it by a replacement function's graph
(``torch.fx.subgraph_rewriter.replace_pattern``).

>>> import kiln
>>> gm = kiln.fx.symbolic_trace(lambda x: kiln.relu(x) * 2 + kiln.relu(x + 1) * 2)
>>> matches = replace_pattern(gm, lambda a: kiln.relu(a) * 2, lambda a: kiln.sigmoid(a))
>>> len(matches), [n.name for n in gm.graph.nodes if n.op == "call_function"]
(2, ['add', 'sigmoid', 'sigmoid_1', 'add_1'])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from .graph import Graph
from .node import Node, map_arg


class Match(NamedTuple):
    anchor: Node  # the pattern's node that the match was found from (its output)
    nodes_map: dict[Node, Node]  # pattern node -> graph node


def _graph_of(fn_or_module) -> Graph:
    from .tracer import symbolic_trace

    if isinstance(fn_or_module, Graph):
        return fn_or_module
    return symbolic_trace(fn_or_module).graph


class _Matcher:
    def __init__(self, pattern: Graph):
        self.pattern = pattern
        nodes = list(pattern.nodes)
        self.placeholders = [n for n in nodes if n.op == "placeholder"]
        output = nodes[-1]
        anchor = output.args[0]
        if not isinstance(anchor, Node):
            raise NotImplementedError(
                "replace_pattern: kiln matches patterns that return one value (the pattern "
                f"returns {anchor!r})"
            )
        self.anchor = anchor

    def match(self, gn: Node) -> dict[Node, Node] | None:
        nodes_map: dict[Node, Node] = {}
        return nodes_map if self._match_node(self.anchor, gn, nodes_map) else None

    def _match_node(self, pn: Node, gn: Node, nodes_map: dict) -> bool:
        if pn in nodes_map:
            return nodes_map[pn] is gn
        if gn in nodes_map.values():
            return False
        if pn.op == "placeholder":  # a wildcard
            nodes_map[pn] = gn
            return True
        if pn.op != gn.op or pn.target != gn.target:
            return False
        if len(pn.args) != len(gn.args) or list(pn.kwargs) != list(gn.kwargs):
            return False
        saved = dict(nodes_map)
        nodes_map[pn] = gn
        if self._match_args(
            list(pn.args) + list(pn.kwargs.values()),
            list(gn.args) + list(gn.kwargs.values()),
            nodes_map,
        ):
            return True
        nodes_map.clear()
        nodes_map.update(saved)
        return False

    def _match_args(self, pargs, gargs, nodes_map) -> bool:
        if len(pargs) != len(gargs):
            return False
        for pa, ga in zip(pargs, gargs):
            if isinstance(pa, Node) and isinstance(ga, Node):
                ok = self._match_node(pa, ga, nodes_map)
            elif isinstance(pa, (list, tuple)) and isinstance(ga, (list, tuple)):
                ok = self._match_args(list(pa), list(ga), nodes_map)
            else:
                ok = type(pa) is type(ga) and pa == ga
            if not ok:
                return False
        return True


def replace_pattern(gm, pattern: Callable, replacement: Callable) -> list[Match]:
    """Replace every non-overlapping match of ``pattern``'s graph in ``gm`` (placeholders
    match any value) by ``replacement``'s graph, then recompile ``gm``. A match whose
    inner values are also used outside it is left alone. Returns the matches."""
    pattern_graph = _graph_of(pattern)
    replacement_graph = _graph_of(replacement)
    matcher = _Matcher(pattern_graph)
    graph: Graph = gm.graph
    taken: set[Node] = set()
    matches: list[Match] = []
    for node in list(graph.nodes):
        if node in taken or node.op in ("placeholder", "output"):
            continue
        nodes_map = matcher.match(node)
        if nodes_map is None:
            continue
        inner = [gn for pn, gn in nodes_map.items() if pn.op != "placeholder"]
        if any(gn in taken for gn in inner):
            continue
        inner_set = set(inner)
        # every inner value but the anchor's must be used only inside the match
        if any(user not in inner_set for gn in inner if gn is not node for user in gn.users):
            continue
        taken.update(inner)
        matches.append(Match(matcher.anchor, nodes_map))
    for match in matches:
        _rewrite(graph, match, matcher, replacement_graph)
    graph.lint()
    gm.recompile()
    return matches


def _rewrite(graph: Graph, match: Match, matcher: _Matcher, replacement: Graph) -> None:
    inputs = [match.nodes_map[p] for p in matcher.placeholders]
    replacement_placeholders = [n for n in replacement.nodes if n.op == "placeholder"]
    if len(inputs) != len(replacement_placeholders):
        raise ValueError(
            f"replace_pattern: the pattern takes {len(inputs)} inputs, the replacement "
            f"{len(replacement_placeholders)}"
        )
    val_map = dict(zip(replacement_placeholders, inputs))
    # as torch.fx: the replacement goes just before the first user of the pattern's output
    anchor = match.nodes_map[match.anchor]
    users = set(anchor.users)
    where = next((n for n in graph.nodes if n in users), anchor.next)
    with graph.inserting_before(where):
        result = None
        for node in replacement.nodes:
            if node.op == "placeholder":
                continue
            if node.op == "output":
                result = map_arg(node.args[0], lambda n: val_map[n])
                break
            val_map[node] = graph.node_copy(node, lambda n: val_map[n])
    if not isinstance(result, Node):
        raise NotImplementedError("replace_pattern: the replacement must return one value")
    anchor.replace_all_uses_with(result)
    for pn in reversed(list(matcher.pattern.nodes)):
        gn = match.nodes_map.get(pn)
        if gn is not None and pn.op != "placeholder" and not gn.users:
            graph.erase_node(gn)
