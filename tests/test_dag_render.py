"""The text DAG renderer: exact output on small graphs, layout properties on random and real graphs."""

from __future__ import annotations

import random

import pytest

from acdc_tui.core.graph import EdgeType, GraphSpec, build_graph
from acdc_tui.ui.dag_render import DagText, render_circuit, render_dag


def text(d: DagText) -> str:
    return "\n".join(line.rstrip() for line in d.lines)


def test_chain():
    d = render_dag([("a", "b"), ("b", "c")])
    assert text(d) == "a\n▼\nb\n▼\nc"
    assert d.node_spans == {"a": (0, 0, 1), "b": (2, 0, 1), "c": (4, 0, 1)}
    assert d.edge_cells == {("a", "b"): [(1, 0)], ("b", "c"): [(3, 0)]}
    assert d.rows == [["a"], ["b"], ["c"]]


def test_fork():
    d = render_dag([("a", "b"), ("a", "c")])
    assert text(d) == "  a\n┌─┴┐\n▼  ▼\nb  c"
    assert d.edge_cells[("a", "c")] == [(1, 2), (1, 3), (2, 3)]


def test_diamond():
    d = render_dag([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")])
    assert text(d) == "\n".join(["  a", "┌─┴┐", "▼  ▼", "b  c", "│ ┌┘", "▼ ▼", "─d─"])
    assert d.node_spans["d"] == (6, 1, 2)  # the label itself, not its padding


def test_edge_skipping_a_row_runs_down_a_trunk():
    d = render_dag([("a", "b"), ("b", "c"), ("a", "c")])
    assert text(d) == "\n".join(["  a", "┌─┴┐", "▼  │", "b  │", "│ ┌┘", "▼ ▼", "─c─"])
    assert d.edge_cells[("a", "c")] == [(1, 2), (1, 3), (2, 3), (3, 3), (4, 3), (4, 2), (5, 2)]


def test_ascii_fallback():
    d = render_dag([("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("a", "d")], ascii_only=True)
    assert text(d) == "\n".join(["   a", "+--+--+", "v  v  |", "b  c  |", "+-+|+-+", "  vvv", "  -d-"])
    assert all(ord(ch) < 128 for line in d.lines for ch in line)


def test_empty_and_single_node():
    assert render_dag([]).lines == []
    d = render_dag([], nodes=["x"])
    assert d.lines == ["x"] and d.node_spans == {"x": (0, 0, 1)} and d.edge_cells == {}


def test_layer_of_sets_rows_and_rejects_upward_edges():
    d = render_dag([("a", "c")], {"a": 0, "b": 1, "c": 5}.__getitem__, nodes=["b"])
    assert d.rows == [["a"], ["b"], ["c"]]
    with pytest.raises(ValueError, match="does not go down"):
        render_dag([("a", "b")], {"a": 1, "b": 1}.__getitem__)
    with pytest.raises(ValueError, match="cycle"):
        render_dag([("a", "b"), ("b", "a")])


def test_duplicate_edges_are_drawn_once():
    assert render_dag([("a", "b"), ("a", "b")]).lines == render_dag([("a", "b")]).lines


def check_properties(d: DagText, edges: list[tuple[str, str]], nodes: set[str], ascii_only: bool = False) -> None:
    arrow = "v" if ascii_only else "▼"
    vertical = "|" if ascii_only else "│"
    assert len({len(line) for line in d.lines}) <= 1, "lines differ in width"
    assert set(d.node_spans) == nodes
    # every node printed exactly once, where node_spans says
    for label, (ln, a, b) in d.node_spans.items():
        assert d.lines[ln][a:b] == label
    assert sorted(lab for row in d.rows for lab in row) == sorted(nodes)
    label_lines = {ln for ln, _, _ in d.node_spans.values()}
    for s, r in set(edges):
        assert d.node_spans[s][0] < d.node_spans[r][0], f"{s} is not above {r}"
        cells = d.edge_cells[s, r]
        assert cells and all(d.lines[ln][c] != " " for ln, c in cells)
        assert cells[0][0] == d.node_spans[s][0] + 1  # leaves just below the sender
        ln, c = cells[-1]
        assert d.lines[ln][c] == arrow and ln == d.node_spans[r][0] - 1  # arrives just above the receiver
        # consecutive cells are neighbours (a connected path), ignoring label rows crossed by trunks
        for (l1, c1), (l2, c2) in zip(cells, cells[1:]):
            assert abs(l1 - l2) + abs(c1 - c2) == 1
        for ln, c in cells:
            if ln in label_lines:
                assert d.lines[ln][c] == vertical
    # lines of different senders only meet where one crosses the other: drawn as an unbroken vertical
    owner: dict[tuple[int, int], str] = {}
    for (s, _), cells in d.edge_cells.items():
        for cell in cells:
            if owner.setdefault(cell, s) != s:
                assert d.lines[cell[0]][cell[1]] == vertical, f"senders {owner[cell]} and {s} merge at {cell}"


def random_dag(seed: int, n: int, m: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    names = [f"n{i}" for i in range(n)]
    edges = set()
    while len(edges) < m:
        a, b = sorted(rng.sample(range(n), 2))
        edges.add((names[a], names[b]))
    return sorted(edges)


# (1, 30, 60) has a cycle of track constraints in one gap, resolved by a jog
@pytest.mark.parametrize("seed,n,m", [(0, 10, 15), (1, 30, 60), (2, 60, 250), (3, 100, 400)])
@pytest.mark.parametrize("ascii_only", [False, True])
def test_random_dag_properties(seed, n, m, ascii_only):
    edges = random_dag(seed, n, m)
    d = render_dag(edges, ascii_only=ascii_only)
    check_properties(d, edges, {x for e in edges for x in e}, ascii_only)


def test_random_dag_with_given_layers():
    layer = lambda lab: int(lab[1:]) // 4  # noqa: E731
    edges = [(s, r) for s, r in random_dag(5, 40, 120) if layer(s) < layer(r)]
    d = render_dag(edges, layer)
    check_properties(d, edges, {x for e in edges for x in e})


@pytest.mark.parametrize("attn_only", [False, True])
def test_real_graph_all_edges(attn_only):
    g = build_graph(GraphSpec(n_layers=2, n_heads=2, attn_only=attn_only, use_pos_embed=False))
    d = render_circuit(g)
    edges = [(e.sender.label, e.receiver.label) for e in g.edges]
    check_properties(d, edges, {n.label for n in g.nodes})
    # inputs on top, output at the bottom, q/k/v inputs above q/k/v above head results
    assert d.rows[0] == ["embed"] and d.rows[-1] == ["out"]
    assert set(d.rows[1]) == {f"a0.{h}.{x}_in" for h in range(2) for x in "qkv"}
    assert set(d.rows[2]) == {f"a0.{h}.{x}" for h in range(2) for x in "qkv"}
    assert set(d.rows[3]) == {"a0.0", "a0.1"}


def test_real_graph_partial_circuit_with_pos_embed():
    g = build_graph(GraphSpec(n_layers=2, n_heads=2, attn_only=False, use_pos_embed=True))
    rng = random.Random(0)
    present = [e for e in g.edges if e.type is EdgeType.PLACEHOLDER or rng.random() < 0.3]
    d = render_circuit(g, present)
    edges = [(e.sender.label, e.receiver.label) for e in present]
    check_properties(d, edges, {x for e in edges for x in e})
    assert set(d.rows[0]) == {"embed", "pos"}
