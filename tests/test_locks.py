"""Lock files: names no other tool uses, created 0600 without following symlinks, removed only when
they are the file the run holds; a run's liveness from its holder's pid, not from anyone's flock."""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from acdc_tui.core.errors import UserError
from acdc_tui.runs.journal.lock import Lock, held, holder, lock_path

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    code = "import sys; from acdc_tui.cli.main import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def test_lock_names_never_collide_with_other_tools(tmp_path):
    assert lock_path(tmp_path / "uv").name == ".uv.acdc-tui-lock"
    long = lock_path(tmp_path / ("x" * 255))
    assert len(long.name.encode()) <= 255 and long.name.endswith(".acdc-tui-lock")
    for name in ("uv", "poetry", "yarn"):
        (tmp_path / f"{name}.lock").write_text("another tool's lock\n")
    p = _run(tmp_path, "run", "--task", "tracr-reverse", "--threshold", "0.1", "--quiet", "--out", "uv", "--journal", "poetry", "--log", "yarn")
    assert p.returncode == 0, p.stderr
    for name in ("uv", "poetry", "yarn"):
        assert (tmp_path / f"{name}.lock").read_text() == "another tool's lock\n"
    assert not list(tmp_path.glob(".*.acdc-tui-lock")), "a clean exit removes its own lock files"


def test_a_planted_symlink_is_never_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    os.symlink(victim, lock_path(tmp_path / "o.json"))
    p = _run(tmp_path, "run", "--task", "tracr-reverse", "--threshold", "0.1", "--quiet", "--out", "o.json")
    assert p.returncode != 0 and "symbolic link" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert victim.read_text() == "keep me" and os.path.islink(lock_path(tmp_path / "o.json"))
    with pytest.raises(UserError, match="symbolic link"):
        Lock.acquire(tmp_path / "o.json", {})
    os.mkfifo(lock_path(tmp_path / "f.json"))
    with pytest.raises(UserError, match="not a regular file"):
        Lock.acquire(tmp_path / "f.json", {})


def test_lock_files_are_private_and_release_removes_only_its_own(tmp_path):
    lock = Lock.acquire(tmp_path / "c.json", {"journal": "j"})
    assert lock is not None
    mode = stat.S_IMODE(os.stat(lock.path).st_mode)
    assert mode == 0o600
    note = holder(tmp_path / "c.json")
    assert note["pid"] == os.getpid() and note["journal"] == "j" and note["start"]
    # someone replaces the file while we hold it: release leaves theirs alone
    os.unlink(lock.path)
    lock.path.write_text("not ours")
    lock.release()
    assert lock.path.read_text() == "not ours"


def test_liveness_is_the_holders_pid_not_anyones_flock(tmp_path):
    journal = tmp_path / "run.journal"
    # a crashed run: its note names a pid that has exited
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lp = lock_path(journal)
    fd = os.open(lp, os.O_RDWR | os.O_CREAT, 0o600)
    os.write(fd, b'{"pid": %d, "start": 1, "journal": "x"}' % dead.pid)
    # a stranger holds a flock on it (as another user's read-only flock did)
    fcntl.flock(fd, fcntl.LOCK_EX)
    assert not held(journal), "a flock alone made a crashed run look live"
    os.close(fd)
    # a live holder: alive; the same pid with another start time (a reused pid): not
    live = Lock.acquire(journal, {"journal": str(journal)})
    assert live is not None and held(journal)
    assert Lock.acquire(journal, {}) is None  # a second holder in the same user is refused while it lives
    note = holder(journal)
    live.release()
    lp.write_bytes(b'{"pid": %d, "start": %d}' % (note["pid"], note["start"] + 1))
    assert not held(journal)


def test_outputs_refuse_devices_and_folders(tmp_path):
    for out, message in (("/dev/null", "not a regular file"), ("newdir/", "names a folder")):
        p = _run(tmp_path, "run", "--task", "tracr-reverse", "--threshold", "0.1", "--quiet", "--out", out)
        err = p.stderr.strip()
        assert p.returncode != 0 and message in err and "\n" not in err, p.stderr
    assert os.path.exists("/dev/null") and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not (tmp_path / "newdir").exists()


def test_resume_writes_the_runs_own_outputs_and_one_claim_wins(tmp_path):
    import sqlite3

    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    p = _run(project, "run", "--task", "tracr-reverse", "--threshold", "0.1", "--quiet", "--out", "circuit.json", "--journal", "run.journal")
    assert p.returncode == 0, p.stderr
    conn = sqlite3.connect(f"file:{project / 'run.journal'}?mode=ro", uri=True)
    outputs = dict(conn.execute("SELECT key, value FROM meta WHERE key = 'outputs'").fetchall())
    conn.close()
    assert str(project / "circuit.json") in outputs["outputs"]
    # a live holder (this process) of the journal's lock: resume is refused at once, in one line
    held_lock = Lock.acquire(project / "run.journal", {"journal": "x"})
    try:
        r = _run(elsewhere, "resume", str(project / "run.journal"))
    finally:
        held_lock.release()
    assert r.returncode != 0 and "still going" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (elsewhere / "circuit.json").exists()


OLD_STYLE_RUN = """
import fcntl, json, os, sys, time
path = sys.argv[1]
fd = os.open(path + ".lock", os.O_RDWR | os.O_CREAT, 0o644)  # what acdc-tui wrote before .NAME.acdc-tui-lock
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, json.dumps({"pid": os.getpid(), "journal": path}).encode())
print("locked", flush=True)
time.sleep(120)
"""


def test_a_live_run_of_an_earlier_version_holding_name_lock_is_respected(tmp_path):
    """A real process holds the old-style `NAME.lock` as earlier versions did: a newer acdc-tui refuses the
    journal in one line and counts the run as alive; once that process is gone, its leftover file is harmless."""
    journal = tmp_path / "run.journal"
    journal.write_bytes(b"")
    old = subprocess.Popen([sys.executable, "-c", OLD_STYLE_RUN, str(journal)], stdout=subprocess.PIPE, text=True)
    try:
        assert old.stdout.readline().strip() == "locked"
        assert held(journal)
        with pytest.raises(UserError, match=rf"run.journal is in use by a run of an earlier acdc-tui \(pid {old.pid}, lock .*run.journal.lock\)"):
            Lock.acquire(journal, {"journal": str(journal)})
    finally:
        old.kill()
        old.wait()
    assert (tmp_path / "run.journal.lock").exists() and not held(journal)
    lock = Lock.acquire(journal, {"journal": str(journal)})
    assert lock is not None and holder(journal)["pid"] == os.getpid()
    lock.release()
