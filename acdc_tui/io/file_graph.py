"""The ACDC graph a circuit file describes: its shape checked, its size bounded, built once.

A file names a model shape; building that shape's graph costs about 10 µs per edge. So that no
file can make the tool work for minutes (or exhaust memory), a file's graph may have at most
MAX_FILE_GRAPH_EDGES edges (GPT-2 large, 36 layers × 20 heads, has about 816,000), and its size
is computed from the shape alone, before anything is built.
"""

from __future__ import annotations

from functools import lru_cache

from acdc_tui.core.architecture import edge_count
from acdc_tui.core.architecture.families import FAMILIES
from acdc_tui.core.graph import ComputationalGraph, GraphSpec, build_graph
from acdc_tui.io.fields import FieldError, check_optional, field, need_bool, need_dict, need_int, need_str

MAX_FILE_GRAPH_EDGES = 1_000_000


def spec_from_config(config: object, use_pos_embed: bool, where: str) -> GraphSpec:
    """The graph shape of a file's model config, checked field by field: n_layers and n_heads positive
    integers, n_key_value_heads a positive divisor of n_heads (or absent), flags booleans, a known family."""
    config = need_dict(config, where)
    n_layers = need_int(field(config, "n_layers", where), f"{where}.n_layers", minimum=1)
    n_heads = need_int(field(config, "n_heads", where), f"{where}.n_heads", minimum=1)
    check_optional(
        config,
        where,
        {
            "attn_only": need_bool,
            "parallel_attn_mlp": need_bool,
            "post_norms": need_bool,
            "d_model": lambda v, w: need_int(v, w, minimum=1, optional=True),
            "n_key_value_heads": lambda v, w: need_int(v, w, minimum=1, optional=True),
            "family": lambda v, w: need_str(v, w, optional=True),
        },
    )
    kv = config.get("n_key_value_heads")
    if kv is not None and n_heads % kv:
        raise FieldError(f"{where}.n_key_value_heads", f"a divisor of n_heads ({n_heads})", kv)
    family = config.get("family")
    if family is not None and family not in {f.NAME for f in FAMILIES if f.SUPPORTED}:
        raise FieldError(f"{where}.family", "an architecture acdc-tui models (" + ", ".join(f.NAME for f in FAMILIES if f.SUPPORTED) + ")", family)
    return GraphSpec.from_config({**config, "n_layers": n_layers, "n_heads": n_heads}, use_pos_embed=use_pos_embed)


def graph_edge_count(spec: GraphSpec) -> int:
    """How many edges build_graph(spec) makes, from the shape alone (a test checks it against real graphs):
    the architecture's tested edges (`edge_count`, its documented formula) plus the placeholders, which
    join each head's q, k and v to its result (3 per head), each MLP's input to its output and (post-norm
    families) each post-attention norm's input to its output."""
    mlp = 0 if spec.attn_only else 1
    return edge_count(spec) + spec.n_layers * (3 * spec.n_heads + mlp + (1 if spec.post_norm else 0))


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

