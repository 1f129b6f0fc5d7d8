"""The opt-in attribution prefilter (ACDC++-style): `--prefilter eap:FRACTION` or `eap-ig:FRACTION`.

Before ACDC visits its first receiver, the tested edges whose attribution magnitude |score| is in the
lowest FRACTION (of all tested edges) are removed without being tested, in one step with one
evaluation (core/algorithm.py, EdgesPrefiltered). ACDC then tests only the rest. Pinned and
force-pruned edges are never prefiltered. The result is not the reference algorithm's: circuit JSON,
sweep JSON and journal say so (`"reference": false`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from acdc_tui.core.ablation import Ablation
from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import ComputationalGraph, Edge
from acdc_tui.engines.attribution import DEFAULT_STEPS, Attribution, Method, attribute, differentiable_metric, parse_method

USAGE = "give METHOD:FRACTION, e.g. --prefilter eap-ig:0.5 (method eap or eap-ig, fraction from 0 to below 1)"


@dataclass(frozen=True)
class Prefilter:
    method: Method
    fraction: float  # of the tested edges, removed untested

    @classmethod
    def parse(cls, text: str) -> "Prefilter":
        method, sep, number = text.partition(":")
        if not sep:
            raise UserError(f"--prefilter {text!r}: {USAGE}")
        try:
            fraction = float(number)
        except ValueError:
            raise UserError(f"--prefilter {text!r}: {number!r} is not a number; {USAGE}") from None
        if not (math.isfinite(fraction) and 0 <= fraction < 1):
            raise UserError(f"--prefilter {text!r}: the fraction must be at least 0 and below 1; {USAGE}")
        return cls(parse_method(method.strip()), fraction)


def task_attribution(task: Any, graph: ComputationalGraph, metric_name: str, method: Method, ablation: Ablation, steps: int = DEFAULT_STEPS) -> Attribution:
    """Attribution scores of every tested edge with a run's metric and ablation on the task's data."""
    metric = differentiable_metric(task.metrics[metric_name], task.model, task.clean)
    patch = None if ablation is Ablation.ZERO else task.corrupted
    return attribute(task.model, graph, task.clean, patch, metric, method, steps, ablation, task.scramble_patch_positions)


def prefiltered_edges(task: Any, graph: ComputationalGraph, metric_name: str, spec: Prefilter, ablation: Ablation, protected: set) -> tuple[Edge, ...]:
    """The tested edges to remove untested, in graph order: the lowest `spec.fraction` of all tested
    edges by |attribution score| (ties in graph order), `protected` edge keys (pins, force-prunes) excepted."""
    scores = task_attribution(task, graph, metric_name, spec.method, ablation)
    if scores.vanishing:
        raise UserError(
            f"--prefilter {spec.method.value}:{spec.fraction:g}: every EAP score is zero, because metric {metric_name!r} is flat on the clean run "
            f"(its gradient there is {scores.gradient_ratio:.1e} of the ablated run's); use --prefilter eap-ig:{spec.fraction:g}"
        )
    n = int(spec.fraction * len(graph.tested_edges))
    order = {e.key: i for i, e in enumerate(graph.tested_edges)}
    candidates = [e for e in graph.tested_edges if e.key not in protected]
    lowest = sorted(candidates, key=lambda e: (abs(scores.scores[e.key]), order[e.key]))[:n]
    return tuple(sorted(lowest, key=lambda e: order[e.key]))
