"""Bounds: thread counts, integer options and Ray addresses are checked, each in one line, in seconds."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _cli(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    code = "import sys; from acdc_tui.cli.main import main; sys.exit(main(sys.argv[1:]))"
    full = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **(env or {})}
    full = {k: v for k, v in full.items() if v is not None}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, env=full, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["run", "--task", "tracr-reverse", "--threshold", "0.1", "--quiet"], {"ACDC_TUI_THREADS": "10000", "OMP_NUM_THREADS": None, "MKL_NUM_THREADS": None}, "more than 4 per CPU core"),
        (["attribute", "--task", "tracr-reverse", "--steps", "1000000000"], {}, "--steps 1000000000 is out of range"),
        (["attribute", "--task", "tracr-reverse", "--top", "-5"], {}, "--top -5 is out of range"),
        (["sweep", "--task", "tracr-reverse", "--thresholds", "0.1", "--ray", "--ray-cpus", "0"], {}, "--ray-cpus 0 is out of range"),
        (["sweep", "--task", "tracr-reverse", "--thresholds", "0.1", "--ray-cpus", "2"], {}, "--ray-cpus sizes a local Ray: add --ray"),
    ],
)
def test_bad_numbers_are_one_line(tmp_path, args, env, message):
    p = _cli(tmp_path, *args, env=env)
    err = p.stderr.strip()
    assert p.returncode != 0 and message in err and "\n" not in err and "Traceback" not in err, p.stderr


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed")
def test_a_ray_address_where_nothing_listens_is_one_line_in_seconds(tmp_path):
    start = time.monotonic()
    p = _cli(tmp_path, "sweep", "--task", "tracr-reverse", "--thresholds", "0.1", "--ray", "127.0.0.1:9", "--out", str(tmp_path / "s"))
    err = p.stderr.strip()
    assert p.returncode != 0 and "nothing answers there" in err and "\n" not in err, p.stderr
    assert time.monotonic() - start < 90


def test_paused_without_a_terminal_says_what_it_waits_for(tmp_path):
    code = "import sys; from acdc_tui.cli.main import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code, "run", "--task", "tracr-reverse", "--threshold", "0.1", "--paused", "--journal", str(tmp_path / "p.journal"), "--out", str(tmp_path / "c.json")], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        end = time.monotonic() + 120
        while "waiting for an explorer" not in line:
            assert time.monotonic() < end and proc.poll() is None, "run --paused said nothing"
            line = proc.stderr.readline()
        assert f"acdc-tui attach {tmp_path / 'p.journal'}" in line and f"kill {proc.pid}" in line
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_attach_without_a_terminal_is_one_line(tmp_path):
    for args in (["attach"], ["attach", str(tmp_path / "nope.journal")]):
        p = _cli(tmp_path, *args, env={"ACDC_TUI_OUTPUT": str(tmp_path / "none")})
        err = p.stderr.strip()
        assert p.returncode != 0 and err.startswith("acdc-tui: error:") and "\n" not in err, p.stderr


def test_corrupted_identical_to_clean_is_refused_before_the_run(tmp_path):
    import shutil

    import torch

    tracr = ROOT / "tasks" / "tracr" / "reverse"
    d = tmp_path / "task"
    d.mkdir()
    for name in ("config.json", "weights.pt"):
        shutil.copy(tracr / name, d / name)
    same = torch.zeros(2, 4, dtype=torch.long)
    torch.save({"clean": same, "corrupted": same.clone()}, d / "tokens.pt")
    p = _cli(tmp_path, "run", "--task-dir", str(d), "--threshold", "0.1", "--quiet", "--out", str(tmp_path / "c.json"))
    err = p.stderr.strip()
    assert p.returncode != 0 and "identical to the clean ones" in err and "\n" not in err, p.stderr
    assert not (tmp_path / "c.json").exists()


def test_an_ansi_escape_in_a_name_is_never_echoed_raw_to_a_terminal(tmp_path):
    import pty

    name = "\x1b]0;pwned\x07\x1b[31mred.json"
    code = "import sys; from acdc_tui.cli.main import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", code, "run", "--task", "tracr-reverse", "--threshold", "0.1", "--out", name], cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=120)
    os.close(leader)
    assert proc.returncode == 0 and (tmp_path / name).exists(), out[-2000:]
    assert b"\x1b]" not in out and b"\x1b[31m" not in out and b"\x07" not in out, out[-2000:]
    assert b"\\x1b]0;pwned" in out


def test_disk_full_ends_the_run_in_one_line_with_a_resumable_journal(tmp_path):
    """SQLite's max_page_count makes the journal 'full' a few pages in, as a full disk does."""
    code = (
        "import sys\n"
        "from acdc_tui.runs.journal import writer as w\n"
        "_open = w.JournalWriter.open.__func__\n"
        "def full_open(cls, path, lock=None):\n"
        "    jw = _open(cls, path, lock)\n"
        "    pages = jw._conn.execute('PRAGMA page_count').fetchone()[0]\n"
        "    jw._conn.execute(f'PRAGMA max_page_count = {pages + 1}')\n"
        "    return jw\n"
        "w.JournalWriter.open = classmethod(full_open)\n"
        "from acdc_tui.cli.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    journal = tmp_path / "full.journal"
    p = subprocess.run([sys.executable, "-c", code, "run", "--task", "tracr-reverse", "--threshold", "0.001", "--quiet", "--journal", str(journal), "--out", str(tmp_path / "c.json")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    err = p.stderr.strip()
    assert p.returncode == 4 and "Traceback" not in err, p.stderr
    assert err.splitlines()[-1].startswith("acdc-tui: error: the disk is full"), p.stderr  # after the progress lines: one line
    r = _cli(tmp_path, "resume", str(journal), "--quiet")
    assert r.returncode == 0, r.stderr


def test_acdc_tui_output_naming_a_file_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("x")
    for args in (["ps"], ["run", "--task", "tracr-reverse", "--threshold", "0.1", "--quiet"]):
        p = _cli(tmp_path, *args, env={"ACDC_TUI_OUTPUT": str(tmp_path / "afile")})
        err = p.stderr.strip()
        assert p.returncode != 0 and "is not a folder" in err and "\n" not in err.splitlines()[-1] and "Traceback" not in err, p.stderr
    assert (tmp_path / "afile").read_text() == "x"
