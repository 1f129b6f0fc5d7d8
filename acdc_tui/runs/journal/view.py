"""A journal seen from outside its run process: its graph, its state at any event, its liveness.

Used by `export`, `ps`, `attach` and the explorer: all read the journal, none loads the model.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from acdc_tui.core.algorithm import AcdcRun
from acdc_tui.core.errors import UserError
from acdc_tui.core.events import Event, RunFinished
from acdc_tui.core.graph import ComputationalGraph, GraphSpec, build_graph
from acdc_tui.runs.driver import RunMode
from acdc_tui.runs.journal import schema
from acdc_tui.runs.journal.codec import EventDecoder
from acdc_tui.runs.journal.reader import EventRow, JournalReader
from acdc_tui.runs.journal.replay import Replayer


RunState = RunMode  # what `ps` shows: the run process's mode while it lives, how it ended otherwise


def graph_of(meta: dict) -> ComputationalGraph:
    """The run's graph, from the model config the journal recorded (pure: no weights)."""
    from acdc_tui.io.file_graph import bounded_graph

    try:
        config = meta.get("model", {}).get("config", {})
        spec = GraphSpec.from_config(config, use_pos_embed=bool(meta.get("graph", {}).get("use_pos_embed")))
    except UserError:
        raise
    except Exception as e:  # a damaged or hand-edited meta row
        raise UserError(f"the journal's model config is damaged ({type(e).__name__}): it cannot be read") from None
    return bounded_graph(spec, "the journal")  # a config claiming 200,000 layers is refused, not built for hours


def start_threshold(reader: JournalReader, run_id: int) -> float:
    for rid, threshold in reader.runs():
        if rid == run_id:
            return threshold
    return float(reader.meta["settings"]["threshold"])


def decode(rows: list[EventRow], graph: ComputationalGraph) -> list[Event]:
    decoder = EventDecoder(graph)
    events = []
    for r in rows:
        try:
            events.append(decoder.event(r.kind, r.data))
        except UserError:
            raise
        except Exception as e:  # a missing or mistyped field, an edge not of this graph
            raise UserError(f"the journal's event {r.seq} ({str(r.kind)[:40]}) is damaged ({type(e).__name__}: {str(e)[:120]}): it cannot be replayed") from None
    return events


def state_at(reader: JournalReader, graph: ComputationalGraph, step: int | None = None, run_id: int = 1) -> tuple[AcdcRun, list[EventRow]]:
    """The run as it stood right after its event `step` (default: the last), and the rows replayed."""
    rows = [r for r in reader.events(run=run_id) if not r.superseded]
    if step is not None:
        if rows and step > rows[-1].seq:
            raise UserError(f"--step {step} is past the journal's last event ({rows[-1].seq}): give a number from 0 to {rows[-1].seq}")
        if step < 0:
            raise UserError(f"--step {step} is negative: give a number from 0 to {rows[-1].seq if rows else 0}")
        rows = [r for r in rows if r.seq <= step]
    settings = reader.meta.get("settings", {})
    replayer = Replayer(graph, start_threshold(reader, run_id), bool(settings.get("abs_value_threshold")), bool(settings.get("tree_shaking")))
    events = decode(rows, graph)
    try:
        replayer.feed_all(events)
    except UserError:
        raise
    except Exception as e:  # events that contradict each other (an edge decided twice, a step out of order)
        raise UserError(f"the journal's events do not replay ({type(e).__name__}: {str(e)[:120]}): it is damaged") from None
    return replayer.run, rows


@dataclass(frozen=True)
class JobSummary:
    """One line of `acdc-tui ps`."""

    path: Path
    state: RunState
    task: str
    threshold: float | None
    done: int
    total: int
    kept: int | None
    metric: float | None
    started: str
    pid: int | None


def summarize(path: Path) -> JobSummary:
    reader = JournalReader(path, readonly=True)
    try:
        meta, status, alive = reader.meta, reader.status(), reader.alive()
        sessions = reader.sessions()
        last = reader.events(after_pos=max(reader.last_pos() - 1, 0))
    finally:
        reader.close()
    finished = bool(last) and last[-1].kind == "RunFinished" and last[-1].data.get("complete") and not last[-1].superseded
    if alive:
        state = RunMode.of(status.get("mode", "running"), RunMode.RUNNING)
    elif finished:
        state = RunState.FINISHED
    else:
        exit_note = (sessions[-1]["exit"] if sessions else None) or ""
        state = RunState.STOPPED if exit_note.startswith("stopped") else RunState.FAILED if exit_note.startswith("failed") else RunState.CRASHED
    total = int(status.get("total") or meta.get("graph", {}).get("n_tested") or 0)
    return JobSummary(
        path=path,
        state=state,
        task=str(meta.get("task", {}).get("name", "?")),
        threshold=status.get("threshold", meta.get("settings", {}).get("threshold")),
        done=int(status.get("done") or 0),
        total=total,
        kept=status.get("kept"),
        metric=status.get("metric"),
        started=str(meta.get("created", "")),
        pid=status.get("pid") if alive else None,
    )


def is_finished(events: list[Event]) -> bool:
    return bool(events) and isinstance(events[-1], RunFinished) and events[-1].complete


def circuit_from_journal(path: str | Path, step: int | None = None, run_id: int = 1):
    """The circuit a journal holds, at its end or right after event `step` (no model loaded)."""
    from acdc_tui.runs.experiment import circuit_of_run

    reader = JournalReader(path, readonly=True)
    try:
        meta = reader.meta
        runs = [r for r, _ in reader.runs()]
        if run_id not in runs:
            raise UserError(f"run {run_id} is not in {path}: the journal holds runs {', '.join(map(str, runs)) or 'none'}")
        graph = graph_of(meta)
        run, rows = state_at(reader, graph, step, run_id)
        status = reader.status()
    finally:
        reader.close()
    complete = run.finished and bool(rows) and rows[-1].kind == RunFinished.__name__ and bool(rows[-1].data.get("complete"))
    known = meta.get("metrics") or {}
    metrics = {"full": run.initial_metric, "circuit": run.current_metric, "empty": known.get("empty")}
    at_end = step is None and status.get("elapsed") is not None
    elapsed = float(status["elapsed"]) if at_end else (rows[-1].t - rows[0].t if len(rows) > 1 else 0.0)
    base = {k: v for k, v in meta.get("settings", {}).items() if k not in ("threshold", "metric", "pins", "force_prunes")}
    circuit = circuit_of_run(run, meta.get("task", {}), meta.get("model", {}), base, metrics, elapsed, complete)
    if step is not None:
        circuit.summary["step"] = rows[-1].seq if rows else 0
    return circuit


def is_journal(path: str | Path) -> bool:
    """A SQLite file (what every journal is), asked of SQLite read-only: an open() and close() of our own
    would drop the POSIX locks of this process's connections to the same file (the explorer's)."""
    try:
        if not Path(path).is_file() or Path(path).stat().st_size == 0:
            return False
        conn = schema.connect(str(path), readonly=True)
    except (OSError, sqlite3.Error):
        return False
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return True
    except (sqlite3.DatabaseError, UnicodeDecodeError):
        return False
    finally:
        conn.close()
