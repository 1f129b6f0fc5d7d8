"""Assemble a run from a task and settings: graph, engine, algorithm. Shared by every front end."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from acdc_tui.core.ablation import Ablation
from acdc_tui.core.algorithm import AcdcRun
from acdc_tui.core.graph import ComputationalGraph, Edge, GraphSpec, build_graph, parse_edge
from acdc_tui.runs.evaluation import circuit_metrics

ENGINES = ("fast", "plain")


def engine_class(name: str):
    """The engine class by name, imported when a run needs it (reading a journal needs no torch)."""
    if name == "fast":
        from acdc_tui.engines.fast import FastEngine

        return FastEngine
    from acdc_tui.engines.plain import PlainEngine

    return PlainEngine


@dataclass(frozen=True)
class Settings:
    threshold: float
    metric: str | None = None  # None: the task's default
    ablation: Ablation = Ablation.CORRUPTED  # what an absent edge's sender is replaced by
    abs_value_threshold: bool = False
    tree_shaking: bool = False
    engine: str = "fast"
    device: str = "cpu"
    dtype: str = "float32"
    pins: tuple[str, ...] = ()  # edges as SENDER->RECEIVER text
    force_prunes: tuple[str, ...] = ()
    prefilter: str | None = None  # "eap:FRACTION" / "eap-ig:FRACTION": a non-reference run (runs/prefilter.py)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ablation", Ablation(self.ablation))  # "zero" reads as Ablation.ZERO; a bool is an error


@dataclass
class Experiment:
    task: Any  # tasks.task.Task (the core does not import tasks)
    settings: Settings
    graph: ComputationalGraph
    metric_name: str
    run: AcdcRun
    meta: dict = field(default_factory=dict)
    prefiltered: tuple[Edge, ...] = ()  # removed untested by the prefilter, in every run of the experiment


def patches_with_corrupted(task: Any, settings: Settings) -> bool:
    """Whether ablated values come from the corrupted data as they are (not zeros, means or scrambled positions)."""
    return settings.ablation is Ablation.CORRUPTED and not getattr(task, "scramble_patch_positions", False)


def check_meaningful(task: Any, settings: Settings) -> None:
    """Corrupted data identical to clean: patching changes nothing, every Δ is 0 and every edge is
    removed. Refused in one line before the run (zero and mean ablation do not patch with them)."""
    import torch

    from acdc_tui.core.errors import UserError

    if not patches_with_corrupted(task, settings):
        return
    clean, corrupted = getattr(task, "clean", None), getattr(task, "corrupted", None)
    if isinstance(clean, torch.Tensor) and isinstance(corrupted, torch.Tensor) and clean.shape == corrupted.shape and torch.equal(clean, corrupted):
        raise UserError("the corrupted tokens are identical to the clean ones: patching would change nothing (every Δ 0, every edge removed); give corrupted data that differ, or use --zero-ablation or --mean-ablation")


def check_metric_moves(task: Any, metric, clean_logits, settings: Settings) -> None:
    """A metric that reads the same value on the corrupted data as on the clean data says the
    corruption changes nothing the task measures (an answer equal to its distractor, a read position
    the corruption cannot reach: then every Δ is 0 and ACDC removes every edge, a meaningless empty
    circuit). A metric that is not a finite number means nothing either. Both refused in one line
    before the run; it costs one forward pass on the corrupted data (`clean_logits`: the clean run's)."""
    import math

    import torch

    from acdc_tui.core.errors import UserError
    from acdc_tui.models import backend

    if not patches_with_corrupted(task, settings):
        return
    with torch.inference_mode():
        clean = float(metric(clean_logits))
        corrupted = float(metric(backend.logits(task.model, task.corrupted)))
    if not (math.isfinite(clean) and math.isfinite(corrupted)):
        raise UserError(f"the metric is not a finite number (clean {clean}, corrupted {corrupted}): check the model's weights and the metric's inputs")
    if abs(clean - corrupted) <= 1e-12 * max(1.0, abs(clean)):
        raise UserError(f"the metric reads the same value on the clean and the corrupted data ({clean + 0.0:.6g}): no edge could change it, and ACDC would "
                        "remove every edge; check what it reads (answer and distractor tokens, the positions) or give corrupted data that change it")


def prepare(task: Any, settings: Settings) -> Experiment:
    """Build the graph and engine for `task`, and a run with the settings' pins and force-prunes queued."""
    from acdc_tui.core.errors import UserError

    if settings.engine not in ENGINES:
        raise UserError(f"unknown engine {settings.engine!r}: choose one of {', '.join(ENGINES)}")
    graph = build_graph(GraphSpec.from_config(task.model.cfg, use_pos_embed=task.use_pos_embed))
    pins = [parse_edge(t, graph) for t in settings.pins]
    forced = [parse_edge(t, graph) for t in settings.force_prunes]
    for e in pins + forced:
        if not e.tested:
            raise UserError(f"{e} is a placeholder edge: ACDC never tests or removes it, so it cannot be pinned or pruned")
    both = {e.key for e in pins} & {e.key for e in forced}
    if both:
        sender, receiver = next(iter(both))
        raise UserError(f"edge {sender.label}->{receiver.label} is both pinned and force-pruned: give it to --pin or to --force-prune, not both")
    check_meaningful(task, settings)
    from acdc_tui.runs.prefilter import Prefilter, prefiltered_edges  # attribution needs torch's autograd: only here

    spec = Prefilter.parse(settings.prefilter) if settings.prefilter is not None else None
    from acdc_tui.models import backend

    clean_logits = backend.logits(task.model, task.clean)  # for the metric and its check: one clean forward
    metric_name, metric = task.metric(settings.metric, clean_logits)
    check_metric_moves(task, metric, clean_logits, settings)
    del clean_logits
    ablation = settings.ablation
    patch = None if ablation is Ablation.ZERO else task.corrupted
    engine = engine_class(settings.engine)(task.model, graph, task.clean, patch, metric, ablation, scramble_positions=task.scramble_patch_positions)
    prefiltered = () if spec is None else prefiltered_edges(task, graph, metric_name, spec, ablation, {e.key for e in pins + forced})
    run = _make_run(graph, engine, settings, settings.threshold, pins, forced, prefiltered)
    return Experiment(task, settings, graph, metric_name, run, prefiltered=prefiltered)


def _make_run(graph: ComputationalGraph, engine, settings: Settings, threshold: float, pins: list, forced: list, prefiltered: tuple = ()) -> AcdcRun:
    run = AcdcRun(graph, engine, threshold, settings.abs_value_threshold, settings.tree_shaking, prefiltered)
    for e in pins:
        run.pin(e)
    for e in forced:
        run.force_prune(e)
    return run


def new_run(exp: Experiment, threshold: float) -> AcdcRun:
    """Start `exp` over with a fresh run at `threshold` on the same graph and engine (so the clean and
    ablated activations are not recomputed), the settings' pins and force-prunes queued again.
    Replaces `exp.run`; `exp.meta` (fingerprint, full and empty metrics) stays valid."""
    pins = [parse_edge(t, exp.graph) for t in exp.settings.pins]
    forced = [parse_edge(t, exp.graph) for t in exp.settings.force_prunes]
    exp.run = _make_run(exp.graph, exp.run.engine, exp.settings, threshold, pins, forced, exp.prefiltered)
    return exp.run


def describe(exp: Experiment) -> tuple[dict, dict]:
    """The task and model parts of every exported file (the weights are hashed once per experiment)."""
    from acdc_tui.models import backend

    task = exp.task
    if "fingerprint" not in exp.meta:
        exp.meta["fingerprint"] = backend.fingerprint(task.model)
    return (
        {"name": task.name, "source": task.source, "metric": exp.metric_name, "description": task.description, **_text(task)},
        {"config": backend.model_config(task.model), "fingerprint": exp.meta["fingerprint"]},
    )


def _text(task) -> dict:
    """A text task's prompts file, tokenizer (sha256) and BOS, as its circuit files record them."""
    text = (getattr(task, "config", None) or {}).get("text")
    return {"text": text} if isinstance(text, dict) else {}


def run_settings(exp: Experiment) -> dict:
    """The settings every exported file records, besides τ, pins and force-prunes. `reference` is false
    when the run is not the reference algorithm's (a prefilter removed edges untested)."""
    s = exp.settings
    keys = ("abs_value_threshold", "tree_shaking", "engine", "device", "dtype", "prefilter")
    return {**s.ablation.flags(), **{k: getattr(s, k) for k in keys}, "use_pos_embed": exp.task.use_pos_embed, "reference": s.prefilter is None}


def to_circuit(exp: Experiment, elapsed_s: float, complete: bool):
    """The run's current state as a Circuit (what gets exported)."""
    task_info, model_info = describe(exp)
    metrics = circuit_metrics(exp, compute=complete)
    return circuit_of_run(exp.run, task_info, model_info, run_settings(exp), metrics, elapsed_s, complete)


def circuit_of_run(run: AcdcRun, task_info: dict, model_info: dict, base_settings: dict, metrics: dict, elapsed_s: float, complete: bool):
    """A run's state as a Circuit; `base_settings` are run_settings() (a live run or a journal's),
    `metrics` the full/circuit/empty values known (see runs/evaluation.py)."""
    from acdc_tui import __version__
    from acdc_tui.io.circuit import Circuit, CircuitEdge

    records = run.records.values()
    dangling = run.dangling()
    edges = [CircuitEdge(r.edge.sender, r.edge.receiver, r.edge.type, r.present, r.delta, r.pinned, r.forced, r.seq, r.decided_by, r.edge.key in dangling) for r in records]
    decided = sum(1 for r in records if r.edge.tested and r.decided_by is not None)
    return Circuit(
        task=task_info,
        model=model_info,
        settings={
            "threshold": run.threshold,
            **base_settings,
            "pins": [f"{r.edge.sender}->{r.edge.receiver}" for r in records if r.pinned],
            "force_prunes": [f"{r.edge.sender}->{r.edge.receiver}" for r in records if r.forced],
        },
        metrics={"initial": run.initial_metric, "final": run.current_metric, **metrics},
        summary={"edges_total": run.total, "edges_kept": run.kept(), "edges_decided": decided, "elapsed_s": round(elapsed_s, 3),
                 **({"edges_dangling": sum(1 for k in dangling if run.graph.edge(*k).tested)} if dangling else {})},
        edges=edges,
        complete=complete,
        acdc_tui_version=__version__,
    )
