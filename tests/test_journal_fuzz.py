"""Property-based test of the journal reader: garbled journals (garbage bytes, truncation, dropped
tables, edited rows, non-JSON, non-finite numbers, duplicated seq). Every consumer that reads a
journal without a model (ps's summary, export/dot/diff's circuit, log's lines) must read it or end
in a UserError (one line), never another exception; and the file's bytes never change."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acdc_tui.core.errors import UserError
from acdc_tui.io.reference_log import format_event
from acdc_tui.runs.journal.reader import JournalReader
from acdc_tui.runs.journal.view import circuit_from_journal, decode, graph_of, summarize

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def journal(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("jfuzz")
    code = "import sys; from acdc_tui.cli.main import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-c", code, "run", "--task", "tracr-reverse", "--threshold", "0.1", "--quiet", "--out", str(d / "c.json"), "--journal", str(d / "run.journal")], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    conn = sqlite3.connect(d / "run.journal")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode = DELETE")  # one file: the mutations below see all of it
    conn.close()
    return d / "run.journal"


def consume(path: Path) -> None:
    summarize(path)
    circuit_from_journal(path)
    reader = JournalReader(path, readonly=True)
    try:
        graph = graph_of(reader.meta)
        for run_id, _ in reader.runs():
            for event in decode([r for r in reader.events(run=run_id) if not r.superseded], graph):
                format_event(event)
    finally:
        reader.close()


TABLES = ["meta", "runs", "events", "commands", "sessions", "status"]
VALUES = st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(), st.text(max_size=20), st.binary(max_size=20))
JSONISH = st.one_of(st.text(max_size=40), st.sampled_from(["{}", "[]", "null", "{\"edge\": 5}", "NaN", "{\"delta\": 1e999}", "{\"sender\": {}}", "\"x\""]))

mutation = st.one_of(
    st.tuples(st.just("bytes"), st.integers(min_value=0, max_value=200_000), st.binary(min_size=1, max_size=64)),
    st.tuples(st.just("truncate"), st.integers(min_value=0, max_value=200_000), st.just(b"")),
    st.tuples(st.just("drop"), st.sampled_from(TABLES), st.just(None)),
    st.tuples(st.just("event_data"), st.integers(min_value=1, max_value=400), JSONISH),
    st.tuples(st.just("event_field"), st.tuples(st.integers(min_value=1, max_value=400), st.sampled_from(["run", "seq", "kind", "t", "superseded", "data"])), VALUES),
    st.tuples(st.just("dup_seq"), st.tuples(st.integers(min_value=1, max_value=400), st.integers(min_value=1, max_value=400)), st.just(None)),
    st.tuples(st.just("meta"), st.sampled_from(["model", "graph", "settings", "schema", "schema_version", "task", "outputs"]), JSONISH),
    st.tuples(st.just("status"), st.just(1), JSONISH),
)


def apply(path: Path, kind: str, where, what) -> None:
    if kind in ("bytes", "truncate"):
        raw = bytearray(path.read_bytes())
        at = where % max(len(raw), 1)
        raw = raw[:at] if kind == "truncate" else raw[:at] + what + raw[at + len(what) :]
        path.write_bytes(bytes(raw))
        return
    conn = sqlite3.connect(path)
    try:
        n = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] or 1
        if kind == "drop":
            conn.execute(f"DROP TABLE {where}")
        elif kind == "event_data":
            conn.execute("UPDATE events SET data = ? WHERE pos = ?", (what, (where - 1) % n + 1))
        elif kind == "event_field":
            row, field = where
            conn.execute(f"UPDATE events SET {field} = ? WHERE pos = ?", (what, (row - 1) % n + 1))
        elif kind == "dup_seq":
            a, b = ((x - 1) % n + 1 for x in where)
            conn.execute("UPDATE events SET seq = (SELECT seq FROM events WHERE pos = ?) WHERE pos = ?", (a, b))
        elif kind == "meta":
            conn.execute("UPDATE meta SET value = ? WHERE key = ?", (what, where))
        elif kind == "status":
            conn.execute("UPDATE status SET data = ? WHERE id = 1", (what,))
        conn.commit()
    except sqlite3.Error:
        pass  # a constraint refused the edit: the journal stays as it was
    finally:
        conn.close()


@settings(max_examples=int(os.environ.get("ACDC_TUI_FUZZ_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutations=st.lists(mutation, min_size=1, max_size=3))
def test_garbled_journals_read_or_end_in_one_line(journal, tmp_path_factory, mutations):
    path = tmp_path_factory.mktemp("case") / "run.journal"
    shutil.copy(journal, path)
    for kind, where, what in mutations:
        apply(path, kind, where, what)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    try:
        consume(path)
    except UserError as e:
        assert "\n" not in str(e)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["run.journal"], "a read-only reader left files beside the journal"


def test_the_clean_journal_reads(journal):
    consume(journal)
