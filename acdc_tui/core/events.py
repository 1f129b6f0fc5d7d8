"""Typed, immutable events: what the ACDC run reports, one per step.

Every sink (headless log, progress meter, circuit export, the explorer UI) consumes these and
nothing else, so they all show the same run.
"""

from __future__ import annotations

from dataclasses import dataclass

from acdc_tui.core.graph import Edge, Node


@dataclass(frozen=True)
class Event:
    seq: int  # position in the run's event stream, from 1


@dataclass(frozen=True)
class RunStarted(Event):
    initial_metric: float
    total_tests: int  # edges ACDC will decide (placeholders excluded)
    n_nodes: int
    n_edges: int


@dataclass(frozen=True)
class EdgesPrefiltered(Event):
    """Removed untested right after the start, because an attribution prefilter ranked them lowest
    (an opt-in, non-reference run); the metric is evaluated once with all of them removed."""

    removed: tuple[Edge, ...]
    old_metric: float
    current_metric: float
    done: int
    total: int


@dataclass(frozen=True)
class NodeEntered(Event):
    node: Node
    n_tests: int  # incoming edges still to decide


@dataclass(frozen=True)
class NodeSkipped(Event):
    """The node feeds nothing any more, so all its incoming edges go, untested (the reference's rule)."""

    node: Node
    removed: tuple[Edge, ...]
    done: int
    total: int


@dataclass(frozen=True)
class EdgeTested(Event):
    edge: Edge
    old_metric: float
    new_metric: float
    delta: float  # new - old (signed, as the reference logs it)
    score: float  # what was compared with the threshold: delta, or |delta|
    removed: bool
    pinned: bool  # kept because the user pinned it, whatever the score
    current_metric: float
    done: int
    total: int


@dataclass(frozen=True)
class EdgeForced(Event):
    """Removed at its turn because the user force-pruned it; Δ is still measured."""

    edge: Edge
    old_metric: float
    new_metric: float
    delta: float
    current_metric: float
    done: int
    total: int


@dataclass(frozen=True)
class OverrideApplied(Event):
    """A pin / force-prune / clear command. `live` means it changed an already-decided edge now."""

    edge: Edge
    action: str  # "pin" | "force_prune" | "clear"
    live: bool
    present: bool
    old_metric: float | None  # None before the run has started
    current_metric: float | None


@dataclass(frozen=True)
class ThresholdChanged(Event):
    old: float
    new: float


@dataclass(frozen=True)
class TreeShaken(Event):
    """Optional final pass: edges touching nodes not on an input -> output path are removed."""

    removed_edges: tuple[Edge, ...]
    removed_nodes: tuple[Node, ...]
    old_metric: float
    current_metric: float


@dataclass(frozen=True)
class RunFinished(Event):
    initial_metric: float
    final_metric: float
    kept: int  # tested-type edges present at the end
    total: int
    complete: bool  # False when stopped early
