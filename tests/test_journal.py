"""The run journal: events round-trip, replay rebuilds the exact state, and a run stopped or crashed
anywhere resumes to exactly the uninterrupted run (same events after the resume point, same circuit)."""

from __future__ import annotations

import math
import random
import sqlite3
import time

import pytest

from acdc_tui.core.events import EdgeTested, NodeSkipped, OverrideApplied, RunFinished, ThresholdChanged
from acdc_tui.runs import process
from acdc_tui.runs.identity import Recipe, journal_meta
from acdc_tui.runs.journal.codec import EventDecoder, encode_event
from acdc_tui.runs.journal.reader import JournalReader
from acdc_tui.runs.journal.replay import Replayer, ReplayMismatch
from acdc_tui.runs.journal.schema import CommandKind
from acdc_tui.runs.journal.writer import JournalWriter
from acdc_tui.runs.outputs import Outputs
from acdc_tui.runs.process import RunLoop
from acdc_tui.runs.resume import open_resume
from tests.helpers import experiment


class Crash(BaseException):
    """Stands in for kill -9: nothing runs after it, no session end, no output."""


class Schedule:
    """Sends commands through the journal when given events have been recorded, and crashes or stops
    the run at a chosen event; the same schedule drives a reference run and an interrupted one."""

    def __init__(self, writer: JournalWriter, commands: dict[int, list], crash_at: int | None = None, stop_at: int | None = None) -> None:
        self.writer, self.commands, self.crash_at, self.stop_at = writer, commands, crash_at, stop_at

    def on_event(self, event, run) -> None:
        for action, arg in self.commands.get(event.seq, []):
            self.writer.record_command(action, arg, "test", 1)
        if event.seq == self.stop_at:
            self.writer.record_command(CommandKind.STOP, None, "test", 1)
        if event.seq == self.crash_at:
            raise Crash

    def on_note(self, text: str) -> None:
        pass


def _recipe(task: str, dtype: str) -> Recipe:
    return Recipe.of(task, None, None, "cpu", dtype)


def run_journal(path, exp, schedule_commands, crash_at=None, stop_at=None) -> None:
    writer = JournalWriter.create(path, journal_meta(exp, _recipe(exp.task.name, exp.settings.dtype)))
    writer.start_session(exp.settings.engine)
    writer.add_run(1, exp.settings.threshold)
    loop = RunLoop(exp, writer, sinks=[Schedule(writer, schedule_commands, crash_at, stop_at)], outputs=Outputs())
    try:
        loop.serve()
    except Crash:
        writer.flush()  # what the flusher commits within 0.5 s; the real kill -9 test covers the rest
        writer._closed = True
        writer._conn.close()
        writer._lock_file.release()
        return
    writer.end_session("finished" if loop.complete else "stopped")
    writer.close()


def resume_journal(path, schedule_commands, engine=None) -> None:
    job = open_resume(path, engine)
    writer = JournalWriter.open(path)
    if job.superseded_pos is not None:
        writer.supersede(job.superseded_pos)
    writer.start_session(job.exp.settings.engine, job.last_pos)
    loop = RunLoop(job.exp, writer, events=job.events, sinks=[Schedule(writer, schedule_commands)], outputs=Outputs())
    loop.serve()
    writer.end_session("finished")
    writer.close()


def journal_events(path, graph) -> list:
    reader = JournalReader(path)
    decoder = EventDecoder(graph)
    events = [decoder.event(r.kind, r.data) for r in reader.events(run=1) if not r.superseded]
    reader.close()
    return events


def assert_same_events(got, want) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want):
        (kind_a, fields_a), (kind_b, fields_b) = encode_event(a), encode_event(b)
        assert kind_a == kind_b and fields_a.keys() == fields_b.keys(), (a, b)
        for key in fields_a:
            x, y = fields_a[key], fields_b[key]
            if isinstance(x, float) and isinstance(y, float):
                assert x == pytest.approx(y, rel=1e-9, abs=1e-12), (key, a, b)
            else:
                assert x == y, (key, a, b)


@pytest.fixture(autouse=True)
def poll_every_step(monkeypatch):
    """Commands are applied at the first step after they are sent, so schedules are deterministic."""
    monkeypatch.setattr(process, "POLL_S", 0.0)


def test_events_round_trip_through_the_codec(tmp_path):
    exp = experiment("tracr-reverse", threshold=0.01, tree_shaking=True, pins=("a3.0->out",), force_prunes=("m2->a3.0.q_in",))
    events = list(exp.run.events())
    decoder = EventDecoder(exp.graph)
    assert {type(e).__name__ for e in events} >= {"RunStarted", "NodeEntered", "NodeSkipped", "EdgeTested", "EdgeForced", "OverrideApplied", "TreeShaken", "RunFinished"}
    for event in events:
        kind, fields = encode_event(event)
        assert decoder.event(kind, fields) == event


def test_non_finite_metrics_survive_the_codec():
    exp = experiment("tracr-reverse", threshold=0.01)
    event = EdgeTested(7, exp.graph.tested_edges[0], math.inf, math.nan, -math.inf, 1.0, False, False, 0.5, 1, 2)
    kind, fields = encode_event(event)
    back = EventDecoder(exp.graph).event(kind, fields)
    assert back.old_metric == math.inf and math.isnan(back.new_metric) and back.delta == -math.inf


def test_replay_rebuilds_every_record_without_evaluating(tmp_path):
    exp = experiment("tracr-proportion", threshold=0.01, pins=("a1.0->out",))
    path = tmp_path / "r.journal"
    run_journal(path, exp, {12: [(CommandKind.THRESHOLD, 0.001)], 20: [(CommandKind.FORCE_PRUNE, [["blocks.0.hook_mlp_out", None], ["blocks.1.hook_mlp_in", None]])]})
    replayer = Replayer(exp.graph, 0.01).feed_all(journal_events(path, exp.graph))
    assert replayer.run.finished and replayer.run.threshold == 0.001
    live = {k: (r.present, r.delta, r.seq, r.decided_by, r.tested_present, r.pinned, r.forced) for k, r in exp.run.records.items()}
    replayed = {k: (r.present, r.delta, r.seq, r.decided_by, r.tested_present, r.pinned, r.forced) for k, r in replayer.run.records.items()}
    assert replayed == live
    assert replayer.run.current_metric == exp.run.current_metric


def test_replay_refuses_a_journal_that_does_not_fit(tmp_path):
    exp = experiment("tracr-proportion", threshold=0.01)
    events = list(exp.run.events())
    tested = next(i for i, e in enumerate(events) if isinstance(e, EdgeTested))
    flipped = list(events)
    e = flipped[tested]
    flipped[tested] = EdgeTested(e.seq, e.edge, e.old_metric, e.new_metric, e.delta, e.score, not e.removed, e.pinned, e.current_metric, e.done, e.total)
    with pytest.raises(ReplayMismatch):
        Replayer(exp.graph, 0.01).feed_all(flipped)


def test_commands_and_events_are_visible_to_another_reader_within_half_a_second(tmp_path):
    exp = experiment("tracr-proportion", threshold=0.01)
    path = tmp_path / "live.journal"
    writer = JournalWriter.create(path, journal_meta(exp, _recipe("tracr-proportion", "float64")))
    writer.add_run(1, 0.01)
    events = [exp.run.step() for _ in range(3)]
    for event in events:  # fast: committed together by the flusher, within 0.5 s
        writer.append(1, event)
    reader = JournalReader(path)
    time.sleep(0.8)
    assert len(reader.events()) == 3
    assert reader.alive()
    writer.close()
    assert not reader.alive()


def _schedule(graph) -> dict[int, list]:
    """Overrides on decided and undecided edges and a τ change, at fixed events of the run."""
    out_edge = [["blocks.3.attn.hook_result", 0], ["blocks.3.hook_resid_post", None]]
    mlp_edge = [["blocks.1.hook_mlp_out", None], ["blocks.2.hook_mlp_in", None]]
    late_edge = [["hook_embed", None], ["blocks.0.hook_q_input", 0]]
    return {
        6: [(CommandKind.PIN, out_edge)],
        30: [(CommandKind.THRESHOLD, 0.05)],
        45: [(CommandKind.FORCE_PRUNE, mlp_edge), (CommandKind.PIN, late_edge)],
        80: [(CommandKind.CLEAR, out_edge)],
    }


def _stop_points(events, rng) -> list[int]:
    """20 points: inside a receiver's sender loop, right after a node skip, after overrides and a τ
    change, the very start and end, and random others."""
    seqs = [e.seq for e in events if not isinstance(e, RunFinished)]
    in_loop = [b.seq for a, b in zip(events, events[1:]) if isinstance(a, EdgeTested) and isinstance(b, EdgeTested)]
    after_skip = [e.seq for e in events if isinstance(e, NodeSkipped)]
    after_command = [e.seq for e in events if isinstance(e, (OverrideApplied, ThresholdChanged))]
    chosen = {seqs[0], seqs[1], seqs[-1], in_loop[len(in_loop) // 2], after_skip[0], *after_command[:5]}
    while len(chosen) < 20:
        chosen.add(rng.choice(seqs))
    return sorted(chosen)


@pytest.mark.parametrize("engine", ["plain", "fast"])
def test_stop_anywhere_and_resume_gives_the_uninterrupted_run(tmp_path, engine):
    settings = dict(threshold=0.01, engine=engine)
    reference = experiment("tracr-reverse", **settings)
    schedule = _schedule(reference.graph)
    run_journal(tmp_path / "reference.journal", reference, schedule)
    want = journal_events(tmp_path / "reference.journal", reference.graph)
    assert any(isinstance(e, NodeSkipped) for e in want) and any(isinstance(e, ThresholdChanged) for e in want)
    want_final = {k: (r.present, r.decided_by, r.pinned, r.forced) for k, r in reference.run.records.items()}
    points = _stop_points(want, random.Random(f"resume-{engine}"))
    assert len(points) == 20
    for i, seq in enumerate(points):
        path = tmp_path / f"stopped-{seq}.journal"
        graceful = i % 3 == 0  # a stop command (SIGTERM's path) every third point, a crash otherwise
        run_journal(path, experiment("tracr-reverse", **settings), schedule, crash_at=None if graceful else seq, stop_at=seq if graceful else None)
        resume_journal(path, {s: c for s, c in schedule.items() if s > seq})
        got = journal_events(path, reference.graph)
        assert_same_events(got, want)
        job_final = open_resume(path)
        assert job_final.finished
        final = {k: (r.present, r.decided_by, r.pinned, r.forced) for k, r in job_final.exp.run.records.items()}
        assert final == want_final, f"resumed after event {seq}"


def test_a_stopped_run_marks_its_early_finish_superseded(tmp_path):
    exp = experiment("tracr-proportion", threshold=0.01)
    path = tmp_path / "s.journal"
    run_journal(path, exp, {}, stop_at=10)
    rows = JournalReader(path).events()
    assert rows[-1].kind == "RunFinished" and rows[-1].data["complete"] is False
    resume_journal(path, {})
    rows = JournalReader(path).events()
    early = [r for r in rows if r.kind == "RunFinished" and not r.data["complete"]]
    assert len(early) == 1 and early[0].superseded
    assert rows[-1].kind == "RunFinished" and rows[-1].data["complete"] is True
    sessions = JournalReader(path).sessions()
    assert [s["exit"] for s in sessions] == ["stopped", "finished"] and sessions[1]["resumed_at"] == early[0].pos


def test_a_journal_is_never_clobbered(tmp_path):
    exp = experiment("tracr-proportion", threshold=0.01)
    path = tmp_path / "j.journal"
    writer = JournalWriter.create(path, journal_meta(exp, _recipe("tracr-proportion", "float64")))
    from acdc_tui.core.errors import UserError

    with pytest.raises(UserError, match="already exists"):
        JournalWriter.create(path, {})
    with pytest.raises(UserError, match="in use by a running process"):
        JournalWriter.open(path)
    writer.close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("family", ["llama", "pythia"])
def test_journals_of_other_families_replay_export_and_resume(tmp_path, family, capsys):
    """A GQA / parallel-block model: the journal's recorded config rebuilds its graph; resume works."""
    from acdc_tui.cli.main import main
    from tests.hf_families import write_checkpoint, write_tokens

    d = tmp_path / family
    write_checkpoint(d, family)
    write_tokens(d)
    journal, out = tmp_path / "run.journal", tmp_path / "c.json"
    args = ["run", "--task-dir", str(d), "--threshold", "0.05", "--dtype", "float64", "--engine", "plain", "--quiet"]
    assert main(args + ["--out", str(out), "--journal", str(journal)]) == 0
    assert main(["export", str(journal), "--out", str(tmp_path / "e.json")]) == 0
    key = lambda c: {(e.sender, e.receiver, e.present, e.decided_by) for e in c.edges}  # noqa: E731
    from acdc_tui.io.circuit import read_circuit

    assert key(read_circuit(tmp_path / "e.json")) == key(read_circuit(out))
    # stop after 25 events (a crash), resume: the same circuit
    exp = experiment(task_dir=d, threshold=0.05, engine="plain")
    stopped = tmp_path / "stopped.journal"
    writer = JournalWriter.create(stopped, journal_meta(exp, Recipe.of(None, str(d), None, "cpu", "float64")))
    writer.start_session("plain")
    writer.add_run(1, 0.05)
    loop = RunLoop(exp, writer, sinks=[Schedule(writer, {}, crash_at=25)], outputs=Outputs())
    with pytest.raises(Crash):
        loop.serve()
    writer.flush()
    writer._closed = True
    writer._conn.close()
    writer._lock_file.release()
    assert main(["resume", str(stopped), "--quiet", "--out", str(tmp_path / "r.json")]) == 0
    assert key(read_circuit(tmp_path / "r.json")) == key(read_circuit(out))
