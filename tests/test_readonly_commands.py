"""Read-only commands never write: ps, dot, export, diff, open and log on another program's SQLite
database or on a garbage file leave its bytes (and its folder) unchanged and end in one line."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    code = "import sys; from acdc_tui.cli.main import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def _snapshot(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _other_programs_db(path: Path) -> Path:
    conn = sqlite3.connect(path)  # rollback-journal mode, as most programs leave it
    conn.execute("CREATE TABLE meta (key TEXT, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('schema', '\"not ours\"')")
    conn.execute("CREATE TABLE notes (x)")
    conn.commit()
    conn.close()
    return path


def _commands(target: str) -> list[list[str]]:
    return [["ps", target], ["dot", target], ["export", target], ["diff", target, target], ["open", target], ["log", target]]


@pytest.mark.parametrize("kind", ["sqlite", "garbage", "sqlite-meta-only"])
def test_read_only_commands_leave_the_file_unchanged(tmp_path, kind):
    folder = tmp_path / "data"
    folder.mkdir()
    target = folder / "other.db"
    if kind == "garbage":
        target.write_bytes(b"SQLite format 3\x00" + os.urandom(4000))
    elif kind == "sqlite":
        _other_programs_db(target)
    else:
        conn = sqlite3.connect(target)
        conn.execute("CREATE TABLE meta (key TEXT, value TEXT)")
        conn.commit()
        conn.close()
    before = _snapshot(folder)
    mode = os.stat(target).st_mode
    for args in _commands(str(target)):
        p = _cli(tmp_path, *args)
        err = p.stderr.strip()
        if args[0] == "ps":  # a listing: the file's row says why it is no journal
            assert p.returncode == 0 and "not an acdc-tui journal" in p.stdout and "Traceback" not in p.stdout + p.stderr, (p.stdout, p.stderr)
        else:
            assert p.returncode != 0, (args, p.stdout)
            assert err and "\n" not in err and "Traceback" not in err, (args, p.stderr)
        assert _snapshot(folder) == before, f"{args} changed {folder}"
        assert os.stat(target).st_mode == mode
    conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True) if kind != "garbage" else None
    if conn is not None:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not turned into WAL
        conn.close()
