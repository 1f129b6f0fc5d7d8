"""Time travel: every past state of a run, reachable by undoing or redoing recorded changes.

As a client replays a journal it records, per event, what the event changed: the views of the
edges it touched (before and after) and the run's counters. Moving to any past event is then a
walk over those changes (undo going back, redo going forward), exact by construction and cheap
per step, even at GPT-2 scale (32,923 edges, tens of thousands of events).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from acdc_tui.core.algorithm import AcdcRun
from acdc_tui.core.events import EdgeForced, EdgeTested, Event, NodeEntered, NodeSkipped
from acdc_tui.core.graph import Node
from acdc_tui.runs.driver import EdgeView

EdgeKey = tuple[Node, Node]


@dataclass(frozen=True)
class RunFacts:
    """The run-level numbers a view shows, at one moment."""

    done: int
    kept: int
    initial_metric: float | None
    current_metric: float | None
    threshold: float
    current_node: Node | None
    finished: bool

    @classmethod
    def of(cls, run: AcdcRun) -> "RunFacts":
        return cls(run.done, run.kept(), run.initial_metric, run.current_metric, run.threshold, run.current_node, run.finished)


@dataclass(frozen=True)
class Change:
    event: Event
    edges: dict[EdgeKey, tuple[EdgeView, EdgeView]]  # before, after
    before: RunFacts
    after: RunFacts


@dataclass
class Timeline:
    """The changes of every event replayed so far, in order (index i = the i-th event)."""

    start: RunFacts | None = None
    changes: list[Change] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.changes)

    def index_of_seq(self, seq: int) -> int:
        """Index of the last change whose event number is at most `seq` (-1: before the first)."""
        lo, hi = 0, len(self.changes)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.changes[mid].event.seq <= seq:
                lo = mid + 1
            else:
                hi = mid
        return lo - 1

    def decided_at(self, key: EdgeKey) -> int | None:
        """The index of the change that first decided edge `key` (None: not decided yet)."""
        for i, change in enumerate(self.changes):
            views = change.edges.get(key)
            if views is not None and views[1].decided_by is not None:
                return i
        return None

    def facts_at(self, index: int) -> RunFacts:
        return self.changes[index].after if index >= 0 else self.start

    def previous_decision(self, index: int, node_level: bool = False) -> int:
        """The index of the last edge decision (or receiver) strictly before `index`; -1 if none."""
        for i in range(index - 1, -1, -1):
            if _is_stop(self.changes[i].event, node_level):
                return i
        return -1

    def next_decision(self, index: int, node_level: bool = False) -> int:
        """The index of the next edge decision (or receiver) after `index`; the last index if none."""
        for i in range(index + 1, len(self.changes)):
            if _is_stop(self.changes[i].event, node_level):
                return i
        return len(self.changes) - 1


def _is_stop(event: Event, node_level: bool) -> bool:
    kinds = (NodeEntered, NodeSkipped) if node_level else (EdgeTested, EdgeForced)
    return isinstance(event, kinds)


class Cursor:
    """A position on a timeline and the edge views there; moves by undoing and redoing changes."""

    def __init__(self, timeline: Timeline, views: dict[EdgeKey, EdgeView], index: int) -> None:
        self.timeline, self.views, self.index = timeline, views, index

    def move_to(self, target: int) -> set[EdgeKey]:
        """Go to change `target` (the state right after it; -1: before any); returns the edges that differ."""
        target = max(-1, min(target, len(self.timeline) - 1))
        changed: set[EdgeKey] = set()
        changes = self.timeline.changes
        while self.index > target:
            for key, (before, _) in changes[self.index].edges.items():
                self.views[key] = before
                changed.add(key)
            self.index -= 1
        while self.index < target:
            self.index += 1
            for key, (_, after) in changes[self.index].edges.items():
                self.views[key] = after
                changed.add(key)
        return changed

    @property
    def facts(self) -> RunFacts:
        return self.timeline.facts_at(self.index)

    @property
    def seq(self) -> int:
        return self.timeline.changes[self.index].event.seq if self.index >= 0 else 0
