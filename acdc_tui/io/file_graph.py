"""The ACDC graph a circuit file describes: its shape checked, its size bounded, built once.

A file names a model shape; building that shape's graph costs about 10 µs per edge. So that no
file can make the tool work for minutes (or exhaust memory), a file's graph may have at most
MAX_FILE_GRAPH_EDGES edges (GPT-2 large, 36 layers × 20 heads, has about 816,000), and its size
is computed from the shape alone, before anything is built.
"""

from __future__ import annotations

from functools import lru_cache

from acdc_tui.core.graph import ComputationalGraph, GraphSpec, build_graph
from acdc_tui.io.fields import check_optional, field, need_bool, need_dict, need_int

MAX_FILE_GRAPH_EDGES = 1_000_000


def spec_from_config(config: object, use_pos_embed: bool, where: str) -> GraphSpec:
    """The graph shape of a file's model config: n_layers and n_heads positive integers, attn_only a boolean."""
    config = need_dict(config, where)
    n_layers = need_int(field(config, "n_layers", where), f"{where}.n_layers", minimum=1)
    n_heads = need_int(field(config, "n_heads", where), f"{where}.n_heads", minimum=1)
    check_optional(config, where, {"attn_only": need_bool, "d_model": lambda v, w: need_int(v, w, minimum=1, optional=True)})
    return GraphSpec(n_layers, n_heads, bool(config.get("attn_only", False)), use_pos_embed)


def graph_edge_count(spec: GraphSpec) -> int:
    """How many edges build_graph(spec) makes, from the shape alone (a test checks it against real graphs).

    Every writer (input nodes, earlier heads, earlier MLPs) feeds every later reader: each head's
    q/k/v inputs, each MLP input (which also reads its own layer's heads) and the output.
    """
    layers, heads = spec.n_layers, spec.n_heads
    mlp = 0 if spec.attn_only else 1
    n_inputs = 2 if spec.use_pos_embed else 1
    writers_summed = n_inputs * layers + (heads + mlp) * layers * (layers - 1) // 2  # Σ over layers of writers before it
    into_qkv_inputs = 3 * heads * writers_summed
    into_mlps = mlp * (writers_summed + heads * layers)
    into_output = n_inputs + layers * (heads + mlp)
    direct = 3 * heads * layers  # q/k/v input -> q/k/v
    placeholders = 3 * heads * layers + mlp * layers  # q/k/v -> head result, MLP in -> MLP out
    return into_qkv_inputs + into_mlps + into_output + direct + placeholders


def check_size(spec: GraphSpec, source: str) -> int:
    """The graph's edge count, or a UserError if it is beyond what a file may make the tool build."""
    from acdc_tui.core.errors import UserError

    n_edges = graph_edge_count(spec)
    if n_edges > MAX_FILE_GRAPH_EDGES:
        raise UserError(
            f"{source} describes a model of {spec.n_layers} layers and {spec.n_heads} heads, whose graph has {n_edges:,} edges, "
            f"more than the {MAX_FILE_GRAPH_EDGES:,} a circuit file may have; check the file's model config"
        )
    return n_edges


@lru_cache(maxsize=8)
def graph_for(spec: GraphSpec) -> ComputationalGraph:
    """build_graph, cached: reading many files of one model builds its graph once (graphs are never mutated)."""
    return build_graph(spec)


def bounded_graph(spec: GraphSpec, source: str) -> ComputationalGraph:
    check_size(spec, source)
    return graph_for(spec)

