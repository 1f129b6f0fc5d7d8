"""Drive a step-wise ACDC run from one thread while other threads send it commands.

The explorer UI runs `RunDriver.loop` in a worker thread and talks to it only through the
command methods (thread-safe) and the `Batch` snapshots the loop hands to `emit`. Snapshots
are immutable copies, so the UI never reads the run's live state. Events are batched by time
so a fast run cannot flood the UI's message queue.
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from acdc_tui.core.algorithm import AcdcRun, ends_edge_step, ends_node_step
from acdc_tui.core.events import EdgeForced, EdgeTested, Event, NodeSkipped, OverrideApplied, RunFinished, TreeShaken
from acdc_tui.core.graph import Edge, Node
from acdc_tui.io.circuit import write_circuit
from acdc_tui.io.dot import to_dot
from acdc_tui.runs.experiment import Experiment, to_circuit
from acdc_tui.runs.progress import Progress

PAUSED, RUNNING, STEPPING, FINISHED = "paused", "running", "stepping", "finished"


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
    return []


class RunDriver:
    """Pause / run / step / override / export, one command queue, one stepping thread."""

    def __init__(self, exp: Experiment, emit: Callable[[Batch], None], flush_interval: float = 0.05, clock: Callable[[], float] = time.monotonic) -> None:
        self.exp, self.run, self.emit = exp, exp.run, emit
        self.flush_interval, self.clock = flush_interval, clock
        self.mode = PAUSED
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._busy = 0.0  # stepping time, so a pause does not spoil the rate and ETA
        self.progress = Progress(self.run.total, clock=lambda: self._busy)
        self._stop_when: Callable[[Event, int], bool] | None = None
        self._n_in_step = 0
        self._complete = False
        self._pending: list[Event] = []
        self._touched: dict[tuple[Node, Node], Edge] = {}
        self._notes: list[str] = []
        self._last_flush = float("-inf")
        self._last_status: RunStatus | None = None

    # ---- commands: any thread ----

    def play(self) -> None:
        self._commands.put(("play",))

    def pause(self) -> None:
        self._commands.put(("pause",))

    def toggle(self) -> None:
        self._commands.put(("toggle",))

    def step_edge(self) -> None:
        self._commands.put(("step", ends_edge_step))

    def step_node(self) -> None:
        self._commands.put(("step", ends_node_step))

    def pin(self, edge: Edge) -> None:
        self._commands.put(("override", self.run.pin, edge))

    def force_prune(self, edge: Edge) -> None:
        self._commands.put(("override", self.run.force_prune, edge))

    def clear_override(self, edge: Edge) -> None:
        self._commands.put(("override", self.run.clear_override, edge))

    def set_threshold(self, threshold: float) -> None:
        self._commands.put(("override", self.run.set_threshold, threshold))

    def export(self, path: str | Path, dot_path: str | Path | None = None) -> None:
        self._commands.put(("export", Path(path), None if dot_path is None else Path(dot_path)))

    def wake(self) -> None:
        """Make the loop re-check its cancellation flag now."""
        self._commands.put(("wake",))

    # ---- the stepping thread ----

    def loop(self, cancelled: Callable[[], bool]) -> None:
        """Run until `cancelled()`; waits for commands while paused or finished."""
        self._flush(force=True)
        while not cancelled():
            stepping = self.mode in (RUNNING, STEPPING)
            self._drain(block=not stepping)
            if cancelled():
                break
            if self.mode in (RUNNING, STEPPING) and not self.run.finished:
                self._step()
            self._flush(force=self.mode not in (RUNNING, STEPPING))
        self._flush(force=True)

    def _drain(self, block: bool) -> None:
        try:
            command = self._commands.get(timeout=0.25) if block else self._commands.get_nowait()
        except queue.Empty:
            return
        while True:
            self._do(*command)
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return

    def _do(self, action: str, *args) -> None:
        if action == "toggle":
            action = "pause" if self.mode in (RUNNING, STEPPING) else "play"
        if action == "play" and not self.run.finished:
            self.mode, self._stop_when = RUNNING, None
        elif action == "pause" and not self.run.finished:
            self.mode, self._stop_when = PAUSED, None
        elif action == "step" and not self.run.finished:
            self.mode, self._stop_when, self._n_in_step = STEPPING, args[0], 0
        elif action == "override":
            fn, arg = args
            try:
                fn(arg)
                self._record(self.run.apply_commands())
            except Exception as e:  # a failed evaluation leaves the run consistent (it rolls back)
                self._notes.append(f"error: {_one_line(e)}")
        elif action == "export":
            self._export(*args)

    def _step(self) -> None:
        start = self.clock()
        try:
            ev = self.run.step()
        except Exception as e:  # e.g. out of memory: the run rolled back the edge; stay paused, keep the work
            self.mode, self._stop_when = PAUSED, None
            self._notes.append(f"error: {_one_line(e)}")
            return
        finally:
            self._busy += self.clock() - start
        self._record([ev])
        self._n_in_step += 1
        if isinstance(ev, RunFinished):
            self.mode, self._complete = FINISHED, ev.complete
        elif self.mode == STEPPING and self._stop_when is not None and self._stop_when(ev, self._n_in_step):
            self.mode, self._stop_when = PAUSED, None

    def _record(self, events: list[Event]) -> None:
        for ev in events:
            self._pending.append(ev)
            if isinstance(ev, (EdgeTested, EdgeForced, NodeSkipped)):
                self.progress.done = ev.done
                self.progress.tested += not isinstance(ev, NodeSkipped)
            for e in touched_edges(self.run, ev):
                self._touched[e.key] = e

    def _export(self, path: Path, dot_path: Path | None) -> None:
        try:
            circuit = to_circuit(self.exp, self._busy, self._complete)
            write_circuit(circuit, path)
            if dot_path is not None:
                dot_path.write_text(to_dot(circuit))
            also = f" and {dot_path}" if dot_path else ""
            state = "complete" if circuit.complete else "partial: the run has not finished"
            self._notes.append(f"exported {circuit.summary['edges_kept']} kept edges to {path}{also} ({state})")
        except Exception as e:  # a bad path must not kill the run
            self._notes.append(f"error: export failed: {_one_line(e)}")

    def status(self) -> RunStatus:
        run, p = self.run, self.progress
        return RunStatus(
            self.mode, p.done, run.total, p.tested, run.kept(), run.initial_metric, run.current_metric,
            run.threshold, run.current_node, self._busy, p.rate, p.eta, self._complete,
        )

    def _flush(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_flush < self.flush_interval:
            return
        status = self.status()
        if not self._pending and not self._notes and status == self._last_status:
            return
        self._last_flush, self._last_status = now, status
        edges = {k: edge_view(self.run, e) for k, e in self._touched.items()}
        batch = Batch(tuple(self._pending), edges, status, tuple(self._notes))
        self._pending, self._touched, self._notes = [], {}, []
        self.emit(batch)


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if "out of memory" in text.lower():
        return "out of memory: paused; use fewer or shorter examples, or a bigger device, and export what is decided"
    return text
