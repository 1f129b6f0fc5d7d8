"""Continue a run from its journal: rebuild its state by replay, then hand it the real engine."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from acdc_tui.core.algorithm import AcdcRun, Engine
from acdc_tui.core.events import Event, RunFinished
from acdc_tui.core.graph import ComputationalGraph
from acdc_tui.runs.experiment import Settings
from acdc_tui.runs.journal.replay import Replayer
from acdc_tui.runs.recipe import RunRecipe

if TYPE_CHECKING:
    from acdc_tui.runs.experiment import Experiment


def replay_run(graph: ComputationalGraph, settings: Settings, events: Iterable[Event], threshold: float | None = None) -> AcdcRun:
    """The run's state after `events`, with no model (its engine only answers from the journal)."""
    start = settings.threshold if threshold is None else threshold
    return Replayer(graph, start, settings.abs_value_threshold, settings.tree_shaking).feed_all(events).run


def continuable(events: list[Event]) -> list[Event]:
    """The events to replay before continuing: an early stop is dropped (the resume continues past it)."""
    return [e for e in events if not (isinstance(e, RunFinished) and not e.complete)]


def rebuild_run(graph: ComputationalGraph, settings: Settings, events: list[Event], engine: Engine, threshold: float | None = None, prefiltered: tuple = ()) -> AcdcRun:
    """A run that continues exactly where `events` end, evaluating with `engine` from now on; the
    experiment's `prefiltered` edges apply if the events stop before the prefilter did."""
    run = replay_run(graph, settings, continuable(events), threshold)
    run.engine = engine
    run.prefiltered = run.prefiltered or tuple(prefiltered)
    return run


def metric_tolerance(dtype: str, value: float) -> float:
    """How far a re-evaluated metric may be from the recorded one: rounding of the dtype, not more."""
    relative = 1e-9 if dtype == "float64" else 1e-4
    return relative * max(1.0, abs(value))


def check_metric(run: AcdcRun, dtype: str) -> str | None:
    """Evaluate the current state once; a one-line warning if it is not the recorded metric."""
    if run.current_metric is None:
        return None
    # the run continues from here: an engine that keeps a reference state (the fast one) takes it as such
    now = getattr(run.engine, "evaluate_as_reference", run.engine.evaluate)(run.absent)
    recorded = run.current_metric
    if math.isnan(now) and math.isnan(recorded):
        return None
    tolerance = metric_tolerance(dtype, recorded)
    if not abs(now - recorded) <= tolerance:
        return f"the metric of the replayed state is {now:.10g}, the journal recorded {recorded:.10g} (difference {abs(now - recorded):.3g} > {tolerance:.3g} for {dtype}): decisions from here on may differ from the uninterrupted run's"
    return None


@dataclasses.dataclass
class ResumeJob:
    """Everything needed to continue a journal's run: the rebuilt experiment and what to append after."""

    exp: "Experiment"
    events: list[Event]  # the events replayed (an early stop dropped)
    meta: dict
    superseded_pos: int | None  # journal position of an early stop to mark superseded
    last_pos: int
    last_seq: int
    warning: str | None
    finished: bool  # the run had finished: nothing to continue
    recipe: RunRecipe | None = None  # the run as asked for (its engine and device as resumed)


def open_resume(journal: str | Path, engine: str | None = None, device: str | None = None, claimed: bool = False) -> ResumeJob:
    """Load the task a journal names, check that model and data are the same, replay the journal."""
    import tasks
    from acdc_tui.core.errors import UserError
    from acdc_tui.models.backend import check_device, fingerprint, parse_dtype
    from acdc_tui.runs.experiment import prepare
    from acdc_tui.runs.identity import data_fingerprint
    from acdc_tui.runs.journal.codec import EventDecoder
    from acdc_tui.runs.journal.reader import JournalReader

    reader = JournalReader(journal)
    try:
        meta = reader.meta
        if not claimed and reader.alive():
            raise UserError(f"journal {journal} belongs to a run that is still going: attach to it with `acdc-tui attach {journal}`")
        if meta.get("kind") != "run":
            raise UserError(f"journal {journal} records a {meta.get('kind')}, which resume does not continue: rerun it")
        rows = [r for r in reader.events(run=1) if not r.superseded]
    finally:
        reader.close()
    recipe = RunRecipe.from_meta(meta)
    recipe = recipe.replace(engine=engine or recipe.engine, device=device or recipe.device)
    settings = recipe.settings()
    dtype = parse_dtype(settings.dtype)
    check_device(settings.device)
    task = tasks.load_task(recipe.task, recipe.task_dir, settings.device, dtype, model_path=recipe.model, prompts=recipe.prompts, bos=recipe.bos)
    # The journal holds the pins and force-prunes as events: they are replayed, not queued again.
    exp = prepare(task, dataclasses.replace(settings, pins=(), force_prunes=()))
    exp.settings = settings
    _check_same(journal, "model", meta.get("model", {}).get("fingerprint"), fingerprint(task.model), "restore the original weights")
    _check_same(journal, "task data", meta.get("data", {}).get("fingerprint"), data_fingerprint(exp), "restore the original tokens")
    decoder = EventDecoder(exp.graph)
    events = [decoder.event(r.kind, r.data) for r in rows]
    finished = bool(events) and isinstance(events[-1], RunFinished) and events[-1].complete
    stop = rows[-1].pos if events and isinstance(events[-1], RunFinished) and not events[-1].complete else None
    exp.run = rebuild_run(exp.graph, settings, events, exp.run.engine, prefiltered=exp.prefiltered)
    warning = None if finished else check_metric(exp.run, settings.dtype)
    return ResumeJob(
        exp, continuable(events), meta, stop, rows[-1].pos if rows else 0, rows[-1].seq if rows else 0, warning, finished, recipe
    )


def _check_same(journal, what: str, recorded: str | None, now: str, fix: str) -> None:
    from acdc_tui.core.errors import UserError

    if recorded != now:
        raise UserError(f"the {what} loaded for {journal} is not what it was run with (fingerprint {now}, the journal has {recorded}): {fix} to resume")
