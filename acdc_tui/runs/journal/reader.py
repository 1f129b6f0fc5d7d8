"""Reading a journal (any number of readers, while the run process writes) and sending it commands."""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from acdc_tui.core.errors import UserError
from acdc_tui.runs.journal import schema
from acdc_tui.runs.journal.lock import held
from acdc_tui.runs.journal.schema import CommandKind

# What SQLite raises on a damaged file: its own errors, and a message or name whose bytes are not UTF-8
DAMAGED = (sqlite3.DatabaseError, UnicodeDecodeError)
COLUMNS = {
    "meta": ("key", "value"),
    "runs": ("id", "threshold"),
    "events": ("pos", "run", "seq", "kind", "data", "t", "superseded"),
    "commands": ("id", "run", "t", "source", "action", "arg", "status", "result", "applied_seq"),
    "status": ("id", "data"),
    "sessions": ("id", "pid", "host", "started", "ended", "engine", "resumed_at", "exit"),
}
# Meta entries that are JSON objects in every journal acdc-tui writes
OBJECT_META = ("packages", "recipe", "run_recipe", "task", "model", "data", "settings", "graph", "outputs", "metrics")


@dataclass(frozen=True)
class EventRow:
    pos: int
    run: int
    seq: int
    kind: str
    data: dict
    t: float
    superseded: bool


@dataclass(frozen=True)
class CommandRow:
    id: int
    run: int | None
    t: float
    source: str
    action: str
    arg: object
    status: str
    result: str | None
    applied_seq: int | None


TABLES = {"meta", "runs", "events", "commands", "sessions", "status"}


class JournalReader:
    """A journal, checked to be one before anything else touches it. `readonly` (ps, dot, export,
    diff, open, log): opened with SQLite's mode=ro and never written, not even a pragma; otherwise
    (a client that sends commands) the read-write connection is opened only after the checks."""

    def __init__(self, path: str | Path, readonly: bool = False) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"journal {self.path} does not exist: `acdc-tui ps` lists the runs in acdc-output/runs/")
        # No open() of the file beside SQLite's: closing any descriptor of a file drops every POSIX lock
        # this process holds on it, SQLite's included, and a second reader in one process (the explorer
        # has two) then read a stale journal. SQLite itself refuses a file that is not a database.
        if not os.access(self.path, os.R_OK):
            raise UserError(f"cannot read journal {self.path}: permission denied")
        try:
            self._conn = schema.connect(str(self.path), readonly=readonly, configured=False)
        except sqlite3.Error as e:
            raise UserError(f"cannot open journal {self.path}{' read-only' if readonly else ''} ({e})") from None
        try:
            tables = {r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not TABLES <= tables:
                raise UserError(f"{self.path} is not an acdc-tui journal (it lacks the table{'s' if len(TABLES - tables) > 1 else ''} {', '.join(sorted(TABLES - tables))}): pass a file written by acdc-tui run --journal")
            for table, columns in COLUMNS.items():  # every column this reader reads: a garbled schema ends here, in one line
                self._conn.execute(f"SELECT {', '.join(columns)} FROM {table} LIMIT 0").fetchall()
            rows = self._conn.execute("SELECT key, value FROM meta").fetchall()
            self.meta = {}
            for k, v in rows:
                try:
                    self.meta[k] = orjson.loads(v)
                except (orjson.JSONDecodeError, TypeError):
                    raise UserError(f"{self.path} is damaged: its meta entry {str(k)[:40]!r} is not JSON") from None
            wrong = next((k for k in OBJECT_META if k in self.meta and not isinstance(self.meta[k], dict) and not (k == "metrics" and self.meta[k] is None)), None)
            if wrong is not None:
                raise UserError(f"{self.path} is damaged: its meta entry {wrong!r} is not a JSON object")
            if self.meta.get("schema") != schema.SCHEMA:
                raise UserError(f"{self.path} is not an acdc-tui journal (no schema {schema.SCHEMA!r})")
            if self.meta.get("schema_version") not in schema.READABLE_VERSIONS:
                raise UserError(f"{self.path} has journal schema version {self.meta.get('schema_version')!r}, this acdc-tui reads versions {', '.join(map(str, schema.READABLE_VERSIONS))}: upgrade acdc-tui")
        except DAMAGED as e:
            self._conn.close()
            why = "not an SQLite file" if "not a database" in str(e) else str(e)
            raise UserError(f"{self.path} is not an acdc-tui journal ({why}): pass a file written by acdc-tui run --journal") from None
        except UserError:
            self._conn.close()
            raise
        if not readonly:  # a journal: now the client's pragmas
            try:
                schema.configure(self._conn)
            except sqlite3.Error as e:
                self._conn.close()
                raise UserError(f"cannot open journal {self.path} ({e})") from None

    def close(self) -> None:
        self._conn.close()

    def refresh_meta(self) -> dict:
        self.meta = {k: orjson.loads(v) for k, v in self._conn.execute("SELECT key, value FROM meta").fetchall()}
        return self.meta

    # ---- runs and events ----

    def runs(self) -> list[tuple[int, float]]:
        """(run id, starting τ), in order."""
        try:
            return [(r, t) for r, t in self._conn.execute("SELECT id, threshold FROM runs ORDER BY id").fetchall()]
        except DAMAGED as e:
            raise UserError(f"journal {self.path} is damaged ({e})") from None

    def events(self, run: int | None = None, after_pos: int = 0, limit: int | None = None) -> list[EventRow]:
        """Events after journal position `after_pos` (of one run, or all), in journal order."""
        sql = "SELECT pos, run, seq, kind, data, t, superseded FROM events WHERE pos > ?"
        args: list = [after_pos]
        if run is not None:
            sql += " AND run = ?"
            args.append(run)
        sql += " ORDER BY pos"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        try:
            raw = self._conn.execute(sql, args).fetchall()
        except DAMAGED as e:
            raise UserError(f"journal {self.path} is damaged ({e})") from None
        rows, last = [], {}
        for p, r, s, k, d, t, x in raw:
            row = self._event_row(p, r, s, k, d, t, x)
            if not row.superseded:
                if row.seq <= last.get(row.run, -1):
                    raise UserError(f"journal {self.path} is damaged: event {row.seq} of run {row.run} comes after event {last[row.run]} (duplicated or out of order)")
                last[row.run] = row.seq
            rows.append(row)
        return rows

    def _event_row(self, p, r, s, k, d, t, x) -> EventRow:
        """One events row, every field checked: one line naming the row on anything else."""
        import math

        def bad(what: str) -> UserError:
            return UserError(f"journal {self.path} is damaged: event row {p!r} has {what}")

        for name, v in (("pos", p), ("run", r), ("seq", s)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise bad(f"a {name} that is not a non-negative integer ({str(v)[:40]!r})")
        if not isinstance(k, str) or not k:
            raise bad("no event kind")
        if not isinstance(t, (int, float)) or isinstance(t, bool) or not math.isfinite(t):
            raise bad(f"a time that is not a finite number ({str(t)[:40]!r})")
        if not isinstance(d, (str, bytes)) or len(d) > 64 << 20:
            raise bad("no JSON data")
        try:
            data = orjson.loads(d)
        except orjson.JSONDecodeError:
            raise bad("data that is not JSON") from None
        if not isinstance(data, dict):
            raise bad("data that is not a JSON object")
        return EventRow(p, r, s, k, data, float(t), bool(x))

    def last_pos(self) -> int:
        return self._conn.execute("SELECT COALESCE(MAX(pos), 0) FROM events").fetchone()[0]

    def count_events(self, run: int | None = None) -> int:
        if run is None:
            return self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        return self._conn.execute("SELECT COUNT(*) FROM events WHERE run = ?", (run,)).fetchone()[0]

    def sessions(self) -> list[dict]:
        cols = COLUMNS["sessions"]
        return [dict(zip(cols, row)) for row in self._conn.execute(f"SELECT {', '.join(cols)} FROM sessions ORDER BY id")]

    # ---- status ----

    def status(self) -> dict:
        try:
            row = self._conn.execute("SELECT data FROM status WHERE id = 1").fetchone()
            status = orjson.loads(row[0]) if row else {}
        except (*DAMAGED, orjson.JSONDecodeError, TypeError):
            raise UserError(f"journal {self.path} is damaged: its status row is not JSON") from None
        return status if isinstance(status, dict) else {}

    def alive(self) -> bool:
        """Whether a live process holds this journal (its run process)."""
        return held(self.path)

    # ---- commands (clients) ----

    def send(self, action: CommandKind, arg=None, source: str = "explorer", run: int | None = None) -> int:
        cur = self._conn.execute(
            "INSERT INTO commands (run, t, source, action, arg) VALUES (?, ?, ?, ?, ?)",
            (run, time.time(), source, action.value, orjson.dumps(arg).decode()),
        )
        return cur.lastrowid

    def commands(self, after_id: int = 0) -> list[CommandRow]:
        rows = self._conn.execute(
            "SELECT id, run, t, source, action, arg, status, result, applied_seq FROM commands WHERE id > ? ORDER BY id", (after_id,)
        ).fetchall()
        return [CommandRow(i, r, t, s, a, orjson.loads(g) if g else None, st, res, ap) for i, r, t, s, a, g, st, res, ap in rows]

    def command(self, command_id: int) -> CommandRow | None:
        rows = self.commands(command_id - 1)
        return rows[0] if rows and rows[0].id == command_id else None

    def touch_client(self) -> None:
        """A client is attached: a finished run's process stays up for it (see runs/process.py)."""
        self._conn.execute("INSERT OR REPLACE INTO meta VALUES ('client_seen', ?)", (orjson.dumps(time.time()).decode(),))

    def client_seen(self) -> float:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'client_seen'").fetchone()
        return float(orjson.loads(row[0])) if row else 0.0
