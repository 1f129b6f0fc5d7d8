"""Rebuild a run's state from its journal without evaluating the model.

The run's algorithm (core/algorithm.py) is deterministic given the metric values its engine returns
and the moments commands arrive. Replay feeds it exactly those: a scripted engine answers each
evaluation with the value the journal recorded, and each recorded command event is re-applied at
its place. Every event the run produces is checked against the recorded one, so a journal that does
not fit the graph (another model, another acdc-tui) is refused instead of giving a wrong state.
The same replay serves resume, export at a step, time travel and the explorer's view of a live run.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable

from acdc_tui.core.algorithm import AcdcRun
from acdc_tui.core.errors import UserError
from acdc_tui.core.events import EdgeForced, EdgesPrefiltered, EdgeTested, Event, OverrideApplied, RunFinished, RunStarted, ThresholdChanged, TreeShaken
from acdc_tui.core.graph import Absent, ComputationalGraph
from acdc_tui.runs.journal.codec import encode_event

_OVERRIDES = {"pin": AcdcRun.pin, "force_prune": AcdcRun.force_prune, "clear": AcdcRun.clear_override}


class ReplayMismatch(UserError):
    """The journal's events are not what the algorithm does on this graph."""


class ScriptedEngine:
    """Answers each evaluation with the next recorded metric value."""

    name = "replay"

    def __init__(self) -> None:
        self.values: deque[float] = deque()

    def evaluate(self, absent: Absent) -> float:
        if not self.values:
            raise ReplayMismatch("the journal does not record an evaluation the run makes here: it was written for another graph or acdc-tui version")
        return self.values.popleft()


def recorded_values(event: Event) -> list[float]:
    """The metric values the run evaluated to produce `event`, in order."""
    if isinstance(event, RunStarted):
        return [event.initial_metric]
    if isinstance(event, (EdgeTested, EdgeForced)):
        return [event.new_metric]
    if isinstance(event, OverrideApplied) and event.live:
        return [event.current_metric]
    if isinstance(event, TreeShaken) and event.removed_edges:
        return [event.current_metric]
    if isinstance(event, EdgesPrefiltered) and event.removed:
        return [event.current_metric]
    return []


class Replayer:
    """An AcdcRun driven by recorded events; `run` is its state after the events fed so far."""

    def __init__(self, graph: ComputationalGraph, threshold: float, abs_value_threshold: bool = False, tree_shaking: bool = False) -> None:
        self.engine = ScriptedEngine()
        self.run = AcdcRun(graph, self.engine, threshold, abs_value_threshold, tree_shaking)
        self.fed = 0
        self.last_seq = 0

    def feed(self, event: Event) -> Event:
        """Reproduce `event` on the run; returns the run's own (identical) event."""
        run = self.run
        self.engine.values.extend(recorded_values(event))
        if isinstance(event, OverrideApplied):
            _OVERRIDES[event.action](run, event.edge)
            produced = run.apply_commands()
        elif isinstance(event, ThresholdChanged):
            run.set_threshold(event.new)
            produced = run.apply_commands()
        else:
            if isinstance(event, EdgesPrefiltered) and not run.prefiltered:
                run.prefiltered = event.removed  # a client replaying a journal learns the prefilter here
            if isinstance(event, RunFinished) and not event.complete:
                run.stop()
            produced = [run.step()]
        # equal events compare equal (fast); only NaN metrics need the encoded comparison
        if len(produced) != 1 or (produced[0] != event and encode_event(produced[0]) != encode_event(event)):
            got = encode_event(produced[0]) if produced else None
            raise ReplayMismatch(f"the journal's event {event.seq} ({type(event).__name__}) does not replay on this graph (the run gives {got}): it was written for another model or acdc-tui version")
        if self.engine.values:
            raise ReplayMismatch(f"the journal's event {event.seq} records more evaluations than the run makes: it was written for another graph or acdc-tui version")
        self.fed += 1
        self.last_seq = event.seq
        return produced[0]

    def feed_all(self, events: Iterable[Event]) -> "Replayer":
        for event in events:
            self.feed(event)
        return self
