"""The project's ACDC run (AcdcRun + PlainEngine) against an independent oracle of the reference
implementation (tests/reference_oracle.py): same tested edges in the same order, same decisions,
same deltas, same final circuit. Everything in float64."""

from __future__ import annotations

import math

import pytest
import torch

import tasks
from acdc_tui.core.ablation import Ablation
from acdc_tui.core.events import EdgeTested
from acdc_tui.runs.experiment import Settings, prepare
from tests.reference_oracle import ReferenceAcdc

REL, ABS = 1e-9, 1e-12

CASES = [
    # (task name or fixture name, threshold, zero_ablation, abs_value_threshold)
    ("tracr-reverse", 0.01, False, False),
    ("tracr-reverse", 1e-6, True, False),
    ("tracr-proportion", 0.01, False, False),
    ("tracr-proportion", 1e-6, True, False),
    ("small_task_dir", 0.005, False, False),
    ("small_task_dir", 0.02, False, False),
    ("small_task_dir", 0.005, False, True),
    ("small_task_dir", 0.02, False, True),
    ("small_task_dir", 0.005, True, False),
    # abs_value_threshold changes decisions here (a delta <= -threshold is kept only with it)
    ("small_task_dir", 0.05, False, True),
    ("small_task_dir", 0.012, True, True),
    ("attn_only_task_dir", 0.01, False, False),
]


def _load(source: str, request):
    if source.endswith("_task_dir"):
        return tasks.load_task(None, str(request.getfixturevalue(source)), "cpu", torch.float64)
    return tasks.load_task(source, None, "cpu", torch.float64)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=ABS)


@pytest.mark.parametrize(
    "source, threshold, zero_ablation, abs_value",
    CASES,
    ids=[f"{s}-{t}{'-zero' if z else ''}{'-abs' if a else ''}" for s, t, z, a in CASES],
)
def test_matches_reference_oracle(source, threshold, zero_ablation, abs_value, request):
    task = _load(source, request)
    exp = prepare(task, Settings(threshold=threshold, ablation=Ablation.of(zero_ablation, False), abs_value_threshold=abs_value, dtype="float64"))
    tested = [ev for ev in exp.run.events() if isinstance(ev, EdgeTested)]
    ours = [(e.edge.sender.name, e.edge.sender.head, e.edge.receiver.name, e.edge.receiver.head, e.delta, e.removed) for e in tested]
    present = {(r.edge.sender.name, r.edge.sender.head, r.edge.receiver.name, r.edge.receiver.head) for r in exp.run.records.values() if r.present}

    _, metric = task.metric(exp.metric_name)
    oracle = ReferenceAcdc(
        task.model, task.clean, task.corrupted, metric, threshold,
        zero_ablation=zero_ablation, abs_value_threshold=abs_value, use_pos_embed=task.use_pos_embed,
    ).run()
    ref = oracle.decisions

    assert len(ref) > 0
    for i, (a, b) in enumerate(zip(ours, ref)):
        where = f"decision {i}: project {a}, oracle {b}"
        assert a[:4] == b[:4], f"different edge tested at {where}"
        assert _close(a[4], b[4]), f"different delta at {where}"
        if a[5] != b[5]:
            score = abs(b[4]) if abs_value else b[4]
            margin = abs(score - threshold)
            assert margin >= 1e-9, f"decision differs only by rounding (|score - threshold| = {margin:.3g}) at {where}"
            pytest.fail(f"different decision at {where}")
    assert len(ours) == len(ref), f"project tested {len(ours)} edges, oracle {len(ref)}"
    assert present == oracle.present_edges(), (
        f"final circuits differ: only project {sorted(present - oracle.present_edges())}, "
        f"only oracle {sorted(oracle.present_edges() - present)}"
    )
    # sanity: the run removed something and kept something
    assert any(d[5] for d in ref) and not all(d[5] for d in ref)


@pytest.mark.parametrize(
    ("layers", "heads", "attn_only", "use_pos_embed"),
    [(12, 12, False, False), (4, 8, True, False), (3, 2, False, True)],  # GPT-2 small's shape first
)
def test_graph_order_matches_the_oracle_at_scale(layers, heads, attn_only, use_pos_embed):
    """Node visiting order and every receiver's sender order equal the oracle's, without running ACDC."""
    from acdc_tui.core.graph import GraphSpec, build_graph
    from acdc_tui.models import backend
    from tests.reference_oracle import Correspondence, head_of

    cfg = {"n_layers": layers, "n_heads": heads, "d_model": 2 * heads, "d_head": 2, "d_vocab": 10, "n_ctx": 8, "attn_only": attn_only, "d_mlp": None if attn_only else 8, "act_fn": "relu"}
    model = backend.build_model(cfg, None)
    oracle = ReferenceAcdc.__new__(ReferenceAcdc)  # only its graph: no data, no metric
    oracle.model, oracle.corr = model, Correspondence.setup_from_model(model.cfg, use_pos_embed)
    oracle.reverse_topologically_sort_corr()
    graph = build_graph(GraphSpec.from_config(model.cfg, use_pos_embed=use_pos_embed))
    assert [(name, head_of(i)) for name in oracle.corr.graph for i in oracle.corr.graph[name]] == [(n.name, n.head) for n in graph.nodes]
    for r in graph.nodes:
        by_name = oracle.corr.edges.get(r.name, {}).get((None,) if r.head is None else (None, None, r.head), {})
        expected = [(sn, head_of(si)) for sn in by_name for si in by_name[sn]]
        assert [(e.sender.name, e.sender.head) for e in graph.incoming[r]] == expected, r
