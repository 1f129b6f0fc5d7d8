"""The model map groups hook points into cells from the graph's nodes alone (kinds, layers, heads)."""

from __future__ import annotations

import networkx as nx

from acdc_tui.core.graph import ComputationalGraph, Edge, EdgeType, GraphSpec, Node, build_graph
from acdc_tui.ui.model_map import CellKind, ModelMap


def test_gpt2_small_shape_has_144_heads_12_mlps_and_every_node_in_one_cell():
    graph = build_graph(GraphSpec(12, 12))
    m = ModelMap(graph)
    assert [c.label for c in m.inputs] == ["embed"] and m.output.label == "out"
    assert [row.layer for row in m.layers] == list(range(12))
    for row in m.layers:
        assert [c.label for c in row.heads] == [f"a{row.layer}.{h}" for h in range(12)]
        assert [c.label for c in row.blocks] == [f"m{row.layer}"] and row.kv_heads == []
        for head in row.heads:  # q/k/v inputs, q/k/v and the result
            assert sorted(n.label for n in head.members) == sorted(f"a{row.layer}.{head.index}{s}" for s in ("", ".q", ".k", ".v", ".q_in", ".k_in", ".v_in"))
            assert [n.label for n in head.outputs] == [head.label]
        assert [n.label for n in row.blocks[0].outputs] == [f"m{row.layer}"]
    members = [n for c in m.cells for n in c.members]
    assert len(members) == len(set(members)) == len(graph.nodes) == 1034
    assert all(m.cell_of[n] is c for c in m.cells for n in c.members)


def test_split_input_embeddings_and_attention_only():
    m = ModelMap(build_graph(GraphSpec(2, 3, attn_only=True, use_pos_embed=True)))
    assert [c.label for c in m.inputs] == ["embed", "pos"]
    assert all(row.blocks == [] and len(row.heads) == 3 for row in m.layers)
    assert all(c.kind is CellKind.INPUT for c in m.inputs)


def gqa_graph() -> ComputationalGraph:
    """One layer of grouped-query attention: 4 query heads sharing 2 KV heads (k/v nodes per KV head)."""
    dag = nx.DiGraph()
    out, embed = Node("blocks.0.hook_resid_post"), Node("blocks.0.hook_resid_pre")
    results = [Node("blocks.0.attn.hook_result", h) for h in range(4)]
    dag.add_node(out, incoming=EdgeType.ADDITION)
    for r in results:
        dag.add_node(r, incoming=EdgeType.PLACEHOLDER)
    for x, heads in (("q", range(4)), ("k", range(2)), ("v", range(2))):
        for h in heads:
            dag.add_node(Node(f"blocks.0.attn.hook_{x}", h), incoming=EdgeType.DIRECT_COMPUTATION)
            dag.add_node(Node(f"blocks.0.hook_{x}_input", h), incoming=EdgeType.ADDITION)
    dag.add_node(embed, incoming=EdgeType.PLACEHOLDER)

    def link(s: Node, r: Node) -> None:
        dag.add_edge(s, r, edge=Edge(s, r, dag.nodes[r]["incoming"]))

    for h, r in enumerate(results):
        link(r, out)
        link(Node("blocks.0.attn.hook_q", h), r)
        for x in "kv":
            link(Node(f"blocks.0.attn.hook_{x}", h // 2), r)
    for x, heads in (("q", range(4)), ("k", range(2)), ("v", range(2))):
        for h in heads:
            link(Node(f"blocks.0.hook_{x}_input", h), Node(f"blocks.0.attn.hook_{x}", h))
            link(embed, Node(f"blocks.0.hook_{x}_input", h))
    link(embed, out)
    return ComputationalGraph(GraphSpec(1, 4, attn_only=True), dag)


def test_grouped_query_attention_gets_kv_cells_of_its_own():
    m = ModelMap(gqa_graph())
    (row,) = m.layers
    assert [c.label for c in row.heads] == ["a0.0", "a0.1", "a0.2", "a0.3"]
    assert [c.label for c in row.kv_heads] == ["a0.kv0", "a0.kv1"]
    assert sorted(n.label for n in row.heads[1].members) == ["a0.1", "a0.1.q", "a0.1.q_in"]
    assert sorted(n.label for n in row.kv_heads[1].members) == ["a0.1.k", "a0.1.k_in", "a0.1.v", "a0.1.v_in"]
    assert sorted(n.label for n in row.kv_heads[1].outputs) == ["a0.1.k", "a0.1.v"]  # they feed the query heads' results


def test_grouped_query_cells_in_the_overview():
    from acdc_tui.ui.overview_render import render_overview
    from acdc_tui.ui.state import ExplorerState

    state = ExplorerState(gqa_graph())
    text = render_overview(state.cells, 80, 20)
    (row,) = state.cells.map.layers
    line = text.lines[text.cells[row.heads[0]][0]]
    assert " kv " in line and all(text.cells[c][0] == text.cells[row.heads[0]][0] for c in row.heads + row.kv_heads)
