"""Assemble a run from a task and settings: graph, engine, algorithm. Shared by every front end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .algorithm import AcdcRun
from .graph import ComputationalGraph, GraphSpec, build_graph, parse_edge
from .patching import PlainEngine

ENGINES = {"plain": PlainEngine}


@dataclass(frozen=True)
class Settings:
    threshold: float
    metric: str | None = None  # None: the task's default
    zero_ablation: bool = False
    abs_value_threshold: bool = False
    tree_shaking: bool = False
    engine: str = "plain"
    device: str = "cpu"
    dtype: str = "float32"
    pins: tuple[str, ...] = ()  # edges as SENDER->RECEIVER text
    force_prunes: tuple[str, ...] = ()


@dataclass
class Experiment:
    task: Any  # tasks.task.Task (the core does not import tasks)
    settings: Settings
    graph: ComputationalGraph
    metric_name: str
    run: AcdcRun
    meta: dict = field(default_factory=dict)


def prepare(task: Any, settings: Settings) -> Experiment:
    """Build the graph and engine for `task`, and a run with the settings' pins and force-prunes queued."""
    from .errors import UserError

    if settings.engine not in ENGINES:
        raise UserError(f"unknown engine {settings.engine!r}: choose one of {', '.join(ENGINES)}")
    graph = build_graph(GraphSpec.from_config(task.model.cfg, use_pos_embed=task.use_pos_embed))
    pins = [parse_edge(t, graph) for t in settings.pins]
    forced = [parse_edge(t, graph) for t in settings.force_prunes]
    for e in pins + forced:
        if not e.tested:
            raise UserError(f"{e} is a placeholder edge: ACDC never tests or removes it, so it cannot be pinned or pruned")
    metric_name, metric = task.metric(settings.metric)
    engine = ENGINES[settings.engine](
        task.model,
        graph,
        task.clean,
        None if settings.zero_ablation else task.corrupted,
        metric,
        zero_ablation=settings.zero_ablation,
        scramble_positions=task.scramble_patch_positions,
    )
    run = AcdcRun(graph, engine, settings.threshold, settings.abs_value_threshold, settings.tree_shaking)
    for e in pins:
        run.pin(e)
    for e in forced:
        run.force_prune(e)
    return Experiment(task, settings, graph, metric_name, run)


def to_circuit(exp: Experiment, elapsed_s: float, complete: bool):
    """The run's current state as a Circuit (what gets exported)."""
    from . import __version__
    from . import model_backend as backend
    from .circuit_io import Circuit, CircuitEdge

    run, s, task = exp.run, exp.settings, exp.task
    if "fingerprint" not in exp.meta:  # hashing the weights once per experiment is enough
        exp.meta["fingerprint"] = backend.fingerprint(task.model)
    edges = [
        CircuitEdge(r.edge.sender, r.edge.receiver, r.edge.type, r.present, r.delta, r.pinned, r.forced, r.seq, r.decided_by)
        for r in run.records.values()
    ]
    decided = sum(1 for r in run.records.values() if r.edge.tested and r.decided_by is not None)
    return Circuit(
        task={"name": task.name, "source": task.source, "metric": exp.metric_name, "description": task.description},
        model={"config": backend.model_config(task.model), "fingerprint": exp.meta["fingerprint"]},
        settings={
            "threshold": run.threshold,
            "zero_ablation": s.zero_ablation,
            "abs_value_threshold": s.abs_value_threshold,
            "tree_shaking": s.tree_shaking,
            "engine": s.engine,
            "device": s.device,
            "dtype": s.dtype,
            "use_pos_embed": task.use_pos_embed,
            "pins": [f"{r.edge.sender}->{r.edge.receiver}" for r in run.records.values() if r.pinned],
            "force_prunes": [f"{r.edge.sender}->{r.edge.receiver}" for r in run.records.values() if r.forced],
        },
        metrics={"initial": run.initial_metric, "final": run.current_metric},
        summary={"edges_total": run.total, "edges_kept": run.kept(), "edges_decided": decided, "elapsed_s": round(elapsed_s, 3)},
        edges=edges,
        complete=complete,
        acdc_tui_version=__version__,
    )
