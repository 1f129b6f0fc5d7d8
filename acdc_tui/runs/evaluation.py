"""The metric of the full model, of the found circuit and of the empty circuit.

* full: every edge present, i.e. the unablated model (0 for L2 and KL against the clean outputs).
* circuit: the edges the run keeps present (what is exported), i.e. the run's current metric.
* empty: every tested (non-placeholder) edge absent, i.e. everything ablated. Placeholder edges
  are structural and never change an activation, so they need no removing.

Only the engine's `evaluate(absent)` is used. The full and empty metrics do not depend on the
threshold, so each is evaluated at most once per experiment (cached in `exp.meta`); a threshold
sweep reuses them for every τ.
"""

from __future__ import annotations

from typing import Any, Protocol

from acdc_tui.core.algorithm import AcdcRun
from acdc_tui.core.graph import ComputationalGraph, Node


class Experiment(Protocol):
    """What these functions read of an experiment (runs/experiment.py's `Experiment` has it): its run,
    its graph, and `meta`, where the full and empty metrics are cached. A protocol, so that
    experiment.py can import this module without this module importing it back."""

    run: AcdcRun
    graph: ComputationalGraph
    meta: dict[str, Any]


def empty_absent(graph: ComputationalGraph) -> dict[Node, set[Node]]:
    """Receiver -> senders, for every tested edge of the graph: the whole graph ablated."""
    absent: dict[Node, set[Node]] = {n: set() for n in graph.nodes}
    for e in graph.tested_edges:
        absent[e.receiver].add(e.sender)
    return absent


def full_metric(exp: Experiment) -> float:
    """The metric with nothing ablated (the run's initial metric when it has one)."""
    if "metric_full" not in exp.meta:
        initial = exp.run.initial_metric
        exp.meta["metric_full"] = initial if initial is not None else exp.run.engine.evaluate({n: set() for n in exp.graph.nodes})
    return exp.meta["metric_full"]


def empty_metric(exp: Experiment) -> float:
    """The metric with every tested edge ablated: one engine evaluation, once per experiment."""
    if "metric_empty" not in exp.meta:
        exp.meta["metric_empty"] = exp.run.engine.evaluate(empty_absent(exp.graph))
    return exp.meta["metric_empty"]


def circuit_metrics(exp: Experiment, compute: bool = True) -> dict[str, float | None]:
    """{"full", "circuit", "empty"}. With `compute=False` (an interrupted run) nothing new is
    evaluated: a value not known yet is None, so saving a stopped run never waits on the model."""
    run = exp.run
    full = full_metric(exp) if compute or run.initial_metric is not None or "metric_full" in exp.meta else None
    empty = empty_metric(exp) if compute or "metric_empty" in exp.meta else None
    return {"full": full, "circuit": run.current_metric, "empty": empty}
