"""The computational graph: the reference's edge counts, node order and sender order."""

from __future__ import annotations

import pytest
import torch

from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import EdgeType, GraphSpec, Node, build_graph, parse_edge, parse_node

GPT2_SMALL = {"n_layers": 12, "n_heads": 12, "d_model": 768, "d_head": 64, "d_mlp": 3072, "d_vocab": 50257, "n_ctx": 1024}


def counts(spec: GraphSpec) -> tuple[int, int]:
    g = build_graph(spec)
    tested = g.tested_edges
    return len(tested), sum(e.type is EdgeType.DIRECT_COMPUTATION for e in tested)


def test_gpt2_small_edge_count_from_config_alone():
    assert counts(GraphSpec.from_config(GPT2_SMALL)) == (32923, 432)


@pytest.mark.parametrize(("layers", "heads", "expected"), [(4, 8, 1377), (2, 8, 305)])
def test_attention_only_edge_counts(layers, heads, expected):
    assert counts(GraphSpec(layers, heads, attn_only=True))[0] == expected


def test_visiting_order_matches_a_real_forward_pass(small_task_dir):
    """Receivers are visited in reverse hook-firing order of a real HookedTransformer."""
    from acdc_tui.models import backend
    from tests.conftest import SMALL_CONFIG

    model = backend.build_model(SMALL_CONFIG, None)
    fired = backend.hook_firing_order(model, torch.zeros(1, 3, dtype=torch.long))
    for use_pos in (False, True):
        g = build_graph(GraphSpec.from_config(model.cfg, use_pos_embed=use_pos))
        names = g.hook_names()
        rank = {n: i for i, n in enumerate(fired)}
        assert all(n in rank for n in names)
        assert [rank[n] for n in names] == sorted((rank[n] for n in names), reverse=True)


def test_reference_sender_and_head_order():
    g = build_graph(GraphSpec(2, 2, attn_only=False, use_pos_embed=True))
    out = g.output_node
    assert out == Node("blocks.1.hook_resid_post")
    assert [str(e.sender) for e in g.incoming[out]] == [
        "blocks.1.hook_mlp_out[:]",
        "blocks.1.attn.hook_result[:, :, 1]",
        "blocks.1.attn.hook_result[:, :, 0]",
        "blocks.0.hook_mlp_out[:]",
        "blocks.0.attn.hook_result[:, :, 1]",
        "blocks.0.attn.hook_result[:, :, 0]",
        "hook_embed[:]",
        "hook_pos_embed[:]",
    ]
    # heads of one hook are visited last head first; q/k/v in reverse firing order
    labels = [n.label for n in g.nodes]
    assert labels[:8] == ["out", "m1", "m1.in", "a1.1", "a1.0", "a1.1.v", "a1.0.v", "a1.1.k"]
    assert labels[-2:] == ["pos", "embed"]
    # a layer's heads feed its MLP but not each other
    assert g.has_edge(Node("blocks.1.attn.hook_result", 0), Node("blocks.1.hook_mlp_in"))
    assert not g.has_edge(Node("blocks.1.attn.hook_result", 0), Node("blocks.1.hook_q_input", 1))
    assert g.incoming_type[Node("blocks.1.hook_mlp_out")] is EdgeType.PLACEHOLDER
    assert g.incoming_type[Node("blocks.0.attn.hook_q", 1)] is EdgeType.DIRECT_COMPUTATION


def test_parse_nodes_and_edges_by_name_or_label():
    g = build_graph(GraphSpec(2, 2))
    assert parse_node("a0.1", g) == Node("blocks.0.attn.hook_result", 1)
    assert parse_node("blocks.0.attn.hook_result[:, :, 1]", g) == Node("blocks.0.attn.hook_result", 1)
    assert parse_node("blocks.1.hook_k_input[0]", g) == Node("blocks.1.hook_k_input", 0)
    e = parse_edge("a0.1->a1.0.k_in", g)
    assert (e.sender.label, e.receiver.label, e.type) == ("a0.1", "a1.0.k_in", EdgeType.ADDITION)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("blocks.0.attn.hook_reslt[0]->out", "unknown hook point"),
        ("a1.0->a0.0.q_in", "no edge"),
        ("a0.0 a1.0", "SENDER->RECEIVER"),
        ("blocks.0.attn.hook_result[7]->out", "unknown hook point"),
    ],
)
def test_bad_edges_are_one_line_user_errors(text, needle):
    g = build_graph(GraphSpec(2, 2))
    with pytest.raises(UserError) as info:
        parse_edge(text, g)
    assert needle in str(info.value) and "\n" not in str(info.value)
