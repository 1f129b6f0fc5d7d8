"""Sweeps over attribution's top k: the circuit of the k edges with the largest |score|, at MIB's edge
fractions, each evaluated once with the run's engine. The result is a SweepResult, so it gets the
same JSON, table, ROC/AUC (against a ground truth) and faithfulness (CPR, CMD) as a sweep over τ;
each point's `threshold` is the smallest |score| it keeps (the top k is "|score| ≥ threshold").
"""

from __future__ import annotations

import math
import sys
import time
from typing import IO, Mapping, Sequence

from acdc_tui.analysis import roc as roc_mod
from acdc_tui.analysis.attribution import attribution_ranks
from acdc_tui.analysis.sweep import SweepPoint, SweepResult, add_roc, edge_key
from acdc_tui.core.errors import UserError
from acdc_tui.runs.evaluation import empty_absent, empty_metric, full_metric
from acdc_tui.runs.experiment import Experiment

MIB_FRACTIONS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)  # MIB's edge fractions


def parse_fractions(text: str) -> list[float]:
    try:
        values = [float(t) for t in text.split(",")]
    except ValueError:
        raise UserError(f"--fractions {text!r}: give comma-separated edge fractions, e.g. --fractions 0.01,0.1,0.5,1") from None
    if not values or any(not (math.isfinite(v) and 0 < v <= 1) for v in values):
        raise UserError(f"--fractions {text!r}: every fraction must be above 0 and at most 1")
    return sorted(set(values))


def run_topk_sweep(exp: Experiment, scores: Mapping, attribution: dict, fractions: Sequence[float] = MIB_FRACTIONS, stderr: IO[str] | None = None, quiet: bool = False) -> SweepResult:
    """One point per fraction: the top int(fraction × tested edges) edges by |score| kept, every other
    tested edge ablated. `attribution` (method, steps) is recorded in the result."""
    stderr = stderr or sys.stderr
    tested = exp.graph.tested_edges
    ranks = attribution_ranks({e.key: scores[e.key] for e in tested})
    ranked = sorted(tested, key=lambda e: ranks[e.key])
    truth = exp.task.ground_truth
    universe = frozenset(edge_key(e) for e in tested)
    result = SweepResult(exp, [], attribution={**attribution, "fractions": list(fractions)})
    start = time.monotonic()
    for i, fraction in enumerate(fractions, 1):
        t0 = time.monotonic()
        k = int(fraction * len(tested))
        absent = empty_absent(exp.graph)
        for e in ranked[:k]:
            absent[e.receiver].discard(e.sender)
        metric = exp.run.engine.evaluate(absent)
        cutoff = abs(scores[ranked[k - 1].key]) if k else math.inf
        found = frozenset(edge_key(e) for e in ranked[:k])
        point = SweepPoint(cutoff, k, metric, True, time.monotonic() - t0, found)
        if truth is not None:
            point.confusion = roc_mod.confusion(found, truth, universe)
        result.points.append(point)
        result.thresholds.append(cutoff)
        if not quiet:
            stderr.write(f"[{i}/{len(fractions)}] top {k}/{len(tested)} edges ({fraction:g}): metric {metric:.6g}\n")
    result.full, result.empty = full_metric(exp), empty_metric(exp)
    result.complete = True
    result.elapsed_s = time.monotonic() - start
    add_roc(result, truth, universe)
    return result
