"""A client of a run process: follow its journal, rebuild its state by replay, send it commands.

The explorer runs `follow` in a worker thread and gets `Batch` snapshots; it sends commands from its
own thread through a second connection. The run itself is in another process (or, in tests, another
thread): the client never evaluates anything and shares no interpreter lock with the run.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Callable

from acdc_tui.core.algorithm import AcdcRun
from acdc_tui.core.errors import UserError
from acdc_tui.core.events import Event, RunFinished
from acdc_tui.core.graph import ComputationalGraph, Edge, Node
from acdc_tui.runs.driver import CRASHED, FAILED, FINISHED, LOADING, RUNNING, STOPPED, Batch, EdgeView, RunStatus, edge_view, touched_edges
from acdc_tui.runs.journal.reader import JournalReader
from acdc_tui.runs.journal.replay import Replayer
from acdc_tui.runs.journal.schema import CommandKind
from acdc_tui.runs.journal.view import decode, graph_of, start_threshold
from acdc_tui.runs.timeline import Change, RunFacts, Timeline

FLUSH_S = 0.05  # at most 20 batches a second
CLIENT_BEAT_S = 1.0
MAX_EVENTS_PER_READ = 20000


def encode_edge(edge: Edge) -> list:
    return [[edge.sender.name, edge.sender.head], [edge.receiver.name, edge.receiver.head]]


class RunClient:
    def __init__(self, journal: str | Path, process: subprocess.Popen | None = None, output: Path | None = None) -> None:
        self.journal = Path(journal)
        self.process, self.output = process, output  # the run process we started, and where its stderr goes
        self.meta: dict = {}
        self.graph: ComputationalGraph | None = None
        self.replayer: Replayer | None = None
        self.events: list[Event] = []  # every event replayed so far (time travel reads them)
        self._reader: JournalReader | None = None  # the follower thread's connection
        self._sender: JournalReader | None = None  # the UI thread's connection
        self._pos = 0
        self._command_seen = 0
        self._status: dict = {}
        self._alive = True
        self._ended_as: str | None = None
        self._last_beat = 0.0
        self._stopped_early = False

    # ---- connecting ----

    def wait_ready(self, cancelled: Callable[[], bool], timeout: float | None = None) -> None:
        """Block until the journal exists (the run process writes it once its model is loaded)."""
        start = time.monotonic()
        while not self.journal.exists():
            if cancelled():
                return
            if self.process is not None and self.process.poll() is not None:
                raise UserError(self._process_error())
            if timeout is not None and time.monotonic() - start > timeout:
                raise UserError(f"the run did not create its journal {self.journal} within {timeout:.0f} s")
            time.sleep(0.05)
        self._reader = JournalReader(self.journal)
        self._sender = JournalReader(self.journal)
        self.meta = self._reader.meta
        self.graph = graph_of(self.meta)
        self._rebuild()
        for command in self._reader.commands(0):  # outcomes of earlier sessions' commands are not news: no replay on attach
            if command.status == "pending":
                break
            self._command_seen = command.id
        self._status = self._reader.status()
        self._alive = self._reader.alive() or (self.process is not None and self.process.poll() is None)

    def _process_error(self) -> str:
        text = ""
        if self.output is not None and self.output.exists():
            lines = [l for l in self.output.read_text(errors="replace").splitlines() if l.strip()]
            errors = [l for l in lines if "error:" in l]
            text = (errors or lines or [""])[-1].strip()
        text = text.removeprefix("acdc-tui: error: ").removeprefix("acdc-tui: ")
        code = self.process.returncode if self.process is not None else "?"
        return text or f"the run process exited with status {code} before it was ready (see {self.output})"

    def _rebuild(self) -> None:
        settings = self.meta.get("settings", {})
        self.replayer = Replayer(self.graph, start_threshold(self._reader, 1), bool(settings.get("abs_value_threshold")), bool(settings.get("tree_shaking")))
        self.events, self._pos, self._stopped_early = [], 0, False
        self.timeline = Timeline(RunFacts.of(self.replayer.run))
        self.generation = getattr(self, "generation", -1) + 1

    # ---- what the UI reads ----

    @property
    def run(self) -> AcdcRun:
        return self.replayer.run

    def views(self) -> dict[tuple[Node, Node], EdgeView]:
        return {e.key: edge_view(self.run, e) for e in self.graph.edges}

    @property
    def mode(self) -> str:
        return self._mode()

    @property
    def alive(self) -> bool:
        return self._alive

    # ---- following ----

    def poll(self) -> tuple[list[Event], dict, list[str]]:
        """New events (replayed), edges they touched, and command outcomes since the last poll."""
        reader = self._reader
        rows = reader.events(run=1, after_pos=self._pos, limit=MAX_EVENTS_PER_READ)
        events: list[Event] = []
        touched: dict = {}
        if rows and self._stopped_early:  # a resume continued past the early stop we showed: start over
            self._rebuild()
            rows = reader.events(run=1, after_pos=0, limit=MAX_EVENTS_PER_READ)
            touched = {e.key: e for e in self.graph.edges}
        for row in rows:
            self._pos = row.pos
            if row.superseded:
                continue
            event = decode([row], self.graph)[0]
            self._feed(event)
            events.append(event)
            self._stopped_early = isinstance(event, RunFinished) and not event.complete
            for edge in touched_edges(self.run, event):
                touched[edge.key] = edge
        notes = []
        for command in reader.commands(self._command_seen):
            if command.status == "pending":
                break
            self._command_seen = command.id
            if command.result and command.source == "explorer":
                notes.append(command.result if command.status == "done" else f"error: {command.result}")
        now = time.monotonic()
        if now - self._last_beat >= CLIENT_BEAT_S:
            self._last_beat = now
            self._status = reader.status()
            self._alive = reader.alive() or (self.process is not None and self.process.poll() is None)
            if self._alive:
                reader.touch_client()
            elif self._ended_as is None:
                self._ended_as = self._ending(reader)
        return events, {k: edge_view(self.run, e) for k, e in touched.items()}, notes

    def _feed(self, event: Event) -> None:
        """Replay one event, recording what it changed for time travel."""
        run = self.run
        edges = touched_edges(run, event)
        before, facts = {e.key: edge_view(run, e) for e in edges}, RunFacts.of(run)
        self.replayer.feed(event)
        self.events.append(event)
        changed = {e.key: (before[e.key], edge_view(run, e)) for e in edges}
        self.timeline.changes.append(Change(event, changed, facts, RunFacts.of(run)))

    def status(self) -> RunStatus:
        run, s = self.run, self._status
        return RunStatus(
            self._mode(), run.done, run.total, int(s.get("tested") or 0), run.kept(), run.initial_metric, run.current_metric,
            run.threshold, run.current_node, float(s.get("elapsed") or 0.0), float(s.get("rate") or 0.0), s.get("eta"),
            bool(run.finished and self.events and isinstance(self.events[-1], RunFinished) and self.events[-1].complete),
        )

    def _mode(self) -> str:
        if not self._alive:
            return self._ended_as or CRASHED
        if self.run.finished and not self._stopped_early:
            return FINISHED
        return str(self._status.get("mode") or LOADING)  # no status yet: the run process is still starting

    def _ending(self, reader: JournalReader) -> str:
        if self.run.finished and not self._stopped_early:
            return FINISHED
        sessions = reader.sessions()
        note = (sessions[-1]["exit"] if sessions else None) or ""
        return STOPPED if note.startswith("stopped") else FAILED if note.startswith("failed") else CRASHED

    def follow(self, emit: Callable[[Batch], None], cancelled: Callable[[], bool]) -> None:
        """Poll the journal until cancelled, emitting at most one batch per FLUSH_S."""
        last_status: RunStatus | None = None
        while not cancelled():
            events, edges, notes = self.poll()
            status = self.status()
            if events or edges or notes or status != last_status:
                emit(Batch(tuple(events), edges, status, tuple(notes), len(self.timeline) - 1, self.generation))
                last_status = status
            if len(events) < MAX_EVENTS_PER_READ:
                time.sleep(FLUSH_S)

    # ---- commands (UI thread) ----

    def send(self, action: CommandKind, arg=None) -> None:
        if self._sender is None:
            raise UserError("the run is not ready yet")
        self._sender.send(action, arg, "explorer")

    def toggle(self) -> None:
        self.send(CommandKind.PAUSE if self._mode() == RUNNING or self._mode() == "stepping" else CommandKind.PLAY)

    def play(self) -> None:
        self.send(CommandKind.PLAY)

    def pause(self) -> None:
        self.send(CommandKind.PAUSE)

    def step_edge(self) -> None:
        self.send(CommandKind.STEP_EDGE)

    def step_node(self) -> None:
        self.send(CommandKind.STEP_NODE)

    def pin(self, edge: Edge) -> None:
        self.send(CommandKind.PIN, encode_edge(edge))

    def force_prune(self, edge: Edge) -> None:
        self.send(CommandKind.FORCE_PRUNE, encode_edge(edge))

    def clear_override(self, edge: Edge) -> None:
        self.send(CommandKind.CLEAR, encode_edge(edge))

    def set_threshold(self, threshold: float) -> None:
        self.send(CommandKind.THRESHOLD, threshold)

    def export(self, path: str | Path, dot: str | Path | None = None) -> None:
        self.send(CommandKind.EXPORT, {"path": str(Path(path).resolve()), "dot": None if dot is None else str(Path(dot).resolve())})

    def stop(self) -> None:
        self.send(CommandKind.STOP)

    def release(self) -> None:
        """The client leaves: a finished run's process may exit now."""
        if self._sender is not None and self._alive and self.run.finished:
            self.send(CommandKind.QUIT)

    def close(self) -> None:
        for reader in (self._reader, self._sender):
            if reader is not None:
                reader.close()
