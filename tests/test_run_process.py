"""Real `acdc-tui run` processes killed with real signals, then resumed; outputs never lost or clobbered."""

from __future__ import annotations

import errno
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from acdc_tui.cli.main import main
from acdc_tui.runs.journal.reader import JournalReader

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
SLOW_RUN = ["--task", "induction", "--threshold", "0.1", "--engine", "plain", "--dtype", "float64", "--quiet"]


def acdc(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "acdc_tui", *args], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def committed_events(journal: Path) -> int:
    if not journal.exists():
        return 0
    try:
        return sqlite3.connect(journal).execute("SELECT COUNT(*) FROM events").fetchone()[0]
    except sqlite3.Error:
        return 0


def wait_for_events(journal: Path, n: int, process: subprocess.Popen, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while committed_events(journal) < n:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < end, "the run recorded too few events in time"
        time.sleep(0.05)


def edges(path: Path) -> dict:
    data = orjson.loads(path.read_bytes())
    return {(e["sender"]["hook"], e["sender"]["head"], e["receiver"]["hook"], e["receiver"]["head"]): (e["present"], e["decided_by"], e["delta"]) for e in data["edges"]}


def assert_same_circuit(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, (present, decided_by, delta) in want.items():
        assert got[key][:2] == (present, decided_by), key
        assert (got[key][2] is None) == (delta is None) and (delta is None or got[key][2] == pytest.approx(delta, rel=1e-9, abs=1e-12)), key


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("reference") / "c.json"
    proc = acdc("run", *SLOW_RUN, "--out", str(out))
    assert proc.wait(300) == 0, proc.communicate()
    return edges(out)


def test_kill_9_at_a_random_moment_then_resume_gives_the_uninterrupted_circuit(tmp_path, reference):
    journal, out = tmp_path / "run.journal", tmp_path / "c.json"
    proc = acdc("run", *SLOW_RUN, "--out", str(out), "--journal", str(journal))
    wait_for_events(journal, 40, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert not out.exists()  # nothing was written at the end: the journal is all there is
    recorded = committed_events(journal)
    assert 40 <= recorded
    resumed = acdc("resume", str(journal), "--quiet")
    stdout, stderr = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, stderr
    assert "events replayed without evaluating" in stderr
    assert_same_circuit(edges(out), reference)
    reader = JournalReader(journal)
    sessions = reader.sessions()
    assert sessions[0]["exit"] is None and sessions[1]["exit"] == "finished"  # the first died without a word
    assert sessions[1]["resumed_at"] is not None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_leave_a_partial_circuit_a_live_log_and_a_resumable_journal(tmp_path, reference, sig):
    journal, out, log = tmp_path / "run.journal", tmp_path / "c.json", tmp_path / "run.log"
    log.write_text("an earlier run's log line\n")
    proc = acdc("run", *SLOW_RUN, "--out", str(out), "--journal", str(journal), "--log", str(log))
    wait_for_events(journal, 30, proc)
    assert "Metric after removing connection" in log.read_text()  # flushed line by line while running
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, stderr
    assert f"interrupted ({signal.Signals(sig).name})" in stderr and "acdc-tui resume" in stderr
    partial = orjson.loads(out.read_bytes())
    assert partial["complete"] is False and partial["summary"]["edges_decided"] > 0
    assert log.read_text().startswith("an earlier run's log line\n# acdc-tui ")  # appended, never truncated
    assert JournalReader(journal).sessions()[0]["exit"] == f"stopped ({signal.Signals(sig).name})"
    resumed = acdc("resume", str(journal), "--quiet")
    assert resumed.wait(300) == 0, resumed.communicate()
    assert_same_circuit(edges(out), reference)
    assert log.read_text().count("# acdc-tui ") == 2


def test_a_second_run_may_not_write_an_output_the_first_one_holds(tmp_path):
    out, journal = tmp_path / "c.json", tmp_path / "first.journal"
    first = acdc("run", "--task", "tracr-proportion", "--threshold", "0.01", "--out", str(out), "--journal", str(journal), "--paused", "--quiet")
    try:
        wait_for_journal = time.monotonic() + 120
        while not journal.exists():
            assert first.poll() is None and time.monotonic() < wait_for_journal
            time.sleep(0.05)
        second = acdc("run", "--task", "tracr-proportion", "--threshold", "0.01", "--out", str(out), "--quiet")
        _, stderr = second.communicate(timeout=120)
        assert second.returncode == 2
        assert stderr.strip().count("\n") == 0 and "is being written by another run" in stderr and str(journal) in stderr
    finally:
        from acdc_tui.runs.journal.schema import CommandKind

        reader = JournalReader(journal)
        reader.send(CommandKind.STOP, None, "test")
        reader.close()
        first.wait(60)
    assert orjson.loads(out.read_bytes())["complete"] is False


def one_line_error(capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("acdc-tui: error:"), err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--log", "{out}"], "--out and --log are the same file"),
        (["--dot", "{out}"], "--out and --dot are the same file"),
        (["--out", ""], "--out is empty"),
    ],
)
def test_outputs_that_coincide_are_refused_before_any_work(tmp_path, capsys, extra, needle):
    out = str(tmp_path / "c.json")
    args = ["run", "--task", "tracr-proportion", "--threshold", "0.1", "--out", out] + [a.format(out=out) for a in extra]
    assert main(args) == 2
    one_line_error(capsys, needle)


def test_an_output_onto_the_tasks_own_weights_is_refused(tmp_path, capsys, small_task_dir):
    weights = small_task_dir / "weights.pt"
    before = weights.read_bytes()
    assert main(["run", "--task-dir", str(small_task_dir), "--threshold", "0.1", "--out", str(weights)]) == 2
    one_line_error(capsys, "same file as a file of --task-dir (weights.pt)")
    assert weights.read_bytes() == before
    assert main(["run", "--task-dir", str(small_task_dir), "--threshold", "0.1", "--out", str(tmp_path / "no" / "c.json")]) == 2
    one_line_error(capsys, "does not exist")


def test_dot_onto_its_own_input_is_refused(tmp_path, capsys):
    out = tmp_path / "c.json"
    assert main(["run", "--task", "tracr-proportion", "--threshold", "0.1", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    before = out.read_bytes()
    assert main(["dot", str(out), "-o", str(out)]) == 2
    one_line_error(capsys, "same file as the circuit file")
    assert out.read_bytes() == before


@pytest.mark.parametrize("value", ["inf", "-inf", "1e309", "nan"])
@pytest.mark.parametrize("command", [["run", "--task", "tracr-proportion"], ["--task", "tracr-proportion", "--headless"], ["sweep", "--task", "tracr-proportion"]])
def test_non_finite_thresholds_are_refused_everywhere(tmp_path, capsys, value, command):
    option = ["--thresholds", f"0.1,{value}"] if command[0] == "sweep" else [f"--threshold={value}"]
    assert main(command + option + ["--out", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "finite" in err, err


def test_an_edge_both_pinned_and_force_pruned_is_refused(tmp_path, capsys):
    assert main(["run", "--task", "tracr-reverse", "--threshold", "0.1", "--pin", "a3.0->out", "--force-prune", "a3.0->out", "--out", str(tmp_path / "c.json")]) == 2
    one_line_error(capsys, "both pinned and force-pruned")


def test_a_logspace_of_millions_of_runs_is_refused_at_once(tmp_path, capsys):
    assert main(["sweep", "--task", "tracr-proportion", "--logspace=-6,0,10000000", "--out", str(tmp_path / "s.json")]) == 2
    one_line_error(capsys, "more than 1000 runs")


def test_a_write_that_fails_at_the_end_names_the_export_command(tmp_path, capsys, monkeypatch):
    """Disk full when the circuit is written: one line, the journal intact, and its export command works."""
    from acdc_tui.runs import outputs

    def disk_full(circuit, path, fmt):
        raise OSError(errno.ENOSPC, "No space left on device")

    out, journal = tmp_path / "c.json", tmp_path / "run.journal"
    with monkeypatch.context() as patch:
        patch.setattr(outputs, "write_circuit_as", disk_full)
        assert main(["run", "--task", "tracr-proportion", "--threshold", "0.01", "--quiet", "--out", str(out), "--journal", str(journal)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress lines: one line
    assert err.startswith("acdc-tui: error: cannot write") and "No space left on device" in err and f"acdc-tui export {journal} --out {out}" in err
    assert not out.exists()
    command = err.split("`")[1].split()
    assert main(command[1:]) == 0
    assert orjson.loads(out.read_bytes())["summary"]["edges_kept"] == 9
