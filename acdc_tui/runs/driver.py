"""What a client shows of a run: immutable snapshots (edge views, status) delivered in batches.

The explorer's follower (runs/client.py) builds them from the journal; the UI applies them to its
state and never reads a run's live objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from acdc_tui.core.algorithm import AcdcRun
from acdc_tui.core.events import EdgeForced, EdgesPrefiltered, EdgeTested, Event, NodeSkipped, OverrideApplied, TreeShaken
from acdc_tui.core.graph import Edge, Node

class RunMode(str, Enum):
    """The one set of a run's modes: the run process's (process.py), `ps`'s (journal/view.py), the UI's.

    A str: equal to, hashed and printed as its value, so JSON status and plain strings compare."""

    LOADING = "loading"  # the model is loading
    RUNNING = "running"
    PAUSED = "paused"
    STEPPING = "stepping"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"
    CRASHED = "crashed"  # the process died without a word: kill -9, out of memory, power

    __str__ = str.__str__
    __format__ = str.__format__

    def __hash__(self) -> int:
        return str.__hash__(self)

    @classmethod
    def of(cls, value, default: "RunMode") -> "RunMode":
        """The mode named `value`, or `default` for anything else (an older journal's status)."""
        try:
            return cls(value)
        except ValueError:
            return default


PAUSED, RUNNING, STEPPING, FINISHED = RunMode.PAUSED, RunMode.RUNNING, RunMode.STEPPING, RunMode.FINISHED
STOPPED, CRASHED, FAILED, LOADING = RunMode.STOPPED, RunMode.CRASHED, RunMode.FAILED, RunMode.LOADING
ENDED = (FINISHED, STOPPED, CRASHED, FAILED)


@dataclass(frozen=True)
class EdgeView:
    """An edge's state as the UI shows it (a copy of the run's EdgeRecord)."""

    present: bool
    delta: float | None
    seq: int | None
    decided_by: str | None
    tested_present: bool | None
    pinned: bool
    forced: bool


@dataclass(frozen=True)
class RunStatus:
    mode: str
    done: int
    total: int
    tested: int
    kept: int
    initial_metric: float | None
    current_metric: float | None
    threshold: float
    current_node: Node | None
    elapsed: float  # seconds spent stepping (pauses excluded)
    rate: float  # edges tested per second of stepping
    eta: float | None
    complete: bool


@dataclass(frozen=True)
class Batch:
    events: tuple[Event, ...]
    edges: dict[tuple[Node, Node], EdgeView]  # edges whose state may have changed
    status: RunStatus
    notes: tuple[str, ...] = ()  # one-line results of commands (exports, errors)
    position: int = -1  # the client's timeline index these views are at (time travel: runs/timeline.py)
    generation: int = 0  # bumped when the client starts its replay over (a resumed early stop)


def edge_view(run: AcdcRun, edge: Edge) -> EdgeView:
    r = run.records[edge.key]
    return EdgeView(r.present, r.delta, r.seq, r.decided_by, r.tested_present, r.pinned, r.forced)


def touched_edges(run: AcdcRun, ev: Event) -> list[Edge]:
    """Edges whose record an event may have changed."""
    if isinstance(ev, (EdgeTested, EdgeForced, OverrideApplied)):
        return [ev.edge]
    if isinstance(ev, NodeSkipped):
        return list(run.graph.incoming[ev.node])
    if isinstance(ev, TreeShaken):
        return list(ev.removed_edges)
    if isinstance(ev, EdgesPrefiltered):
        return list(ev.removed)
    return []
