"""Explorer states at GPT-2 small's scale without a model: edges decided by a seeded coin, in ACDC's order."""

from __future__ import annotations

import random

from acdc_tui.core.graph import ComputationalGraph, GraphSpec, build_graph
from acdc_tui.runs.driver import RUNNING, EdgeView, RunStatus
from acdc_tui.ui.state import ExplorerState

GPT2_SMALL = GraphSpec(12, 12)


def gpt2_graph() -> ComputationalGraph:
    return build_graph(GPT2_SMALL)


def decided_state(graph: ComputationalGraph, n_decided: int, keep: float = 0.1, seed: int = 0) -> ExplorerState:
    """The first `n_decided` tested edges decided (kept with probability `keep`, Δ random); the next one's receiver current."""
    rng = random.Random(seed)
    views = {}
    tested = graph.tested_edges
    for step, e in enumerate(tested[:n_decided]):
        kept = rng.random() < keep
        views[e.key] = EdgeView(kept, rng.uniform(-1e-3, 1e-3), step, "test", kept, False, False)
    current = tested[n_decided].receiver if n_decided < len(tested) else None
    status = RunStatus(RUNNING, n_decided, len(tested), n_decided, 0, 1.0, 1.0, 0.01, current, 1.0, 1.0, 1.0, False)
    return ExplorerState(graph, views, status)
