"""A GPT-2-small-shaped finished run without a model: a kept circuit of a chosen density, Δ by a seeded coin."""

from __future__ import annotations

import random

from acdc_tui.core.graph import EdgeType
from acdc_tui.runs.driver import FINISHED, EdgeView, RunStatus
from acdc_tui.ui.state import ExplorerState
from tests.scale_states import gpt2_graph


def gpt2_circuit_state(keep: float = 0.03, seed: int = 0, threshold: float = 0.01) -> ExplorerState:
    """Every tested edge decided: a head's q/k/v → result edges mostly kept, others kept with probability `keep`.

    Kept edges get |Δ| log-uniform in [τ, 100τ], removed ones below τ."""
    graph = gpt2_graph()
    rng = random.Random(seed)
    views = {}
    for step, e in enumerate(graph.tested_edges):
        kept = rng.random() < (0.9 if e.type is EdgeType.DIRECT_COMPUTATION else keep)
        size = threshold * 10 ** rng.uniform(0, 2) if kept else threshold * rng.random()
        views[e.key] = EdgeView(kept, size * rng.choice((-1, 1)), step, "test", kept, False, False)
    n = len(graph.tested_edges)
    kept_count = sum(v.present for v in views.values())
    status = RunStatus(FINISHED, n, n, n, kept_count, 1.0, 1.0, threshold, None, 1.0, 1.0, 0.0, True)
    return ExplorerState(graph, views, status)
