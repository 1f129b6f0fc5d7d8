"""Reading a journal (any number of readers, while the run process writes) and sending it commands."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from acdc_tui.core.errors import UserError
from acdc_tui.runs.journal import schema
from acdc_tui.runs.journal.lock import held
from acdc_tui.runs.journal.schema import CommandKind


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


class JournalReader:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise UserError(f"journal {self.path} does not exist: `acdc-tui ps` lists the runs in acdc-output/runs/")
        try:
            self._conn = schema.connect(str(self.path))
            rows = self._conn.execute("SELECT key, value FROM meta").fetchall()
        except sqlite3.DatabaseError as e:
            raise UserError(f"{self.path} is not an acdc-tui journal ({e}): pass a file written by acdc-tui run --journal") from None
        self.meta = {k: orjson.loads(v) for k, v in rows}
        if self.meta.get("schema") != schema.SCHEMA:
            raise UserError(f"{self.path} is not an acdc-tui journal (no schema {schema.SCHEMA!r})")
        if self.meta.get("schema_version") not in schema.READABLE_VERSIONS:
            raise UserError(f"{self.path} has journal schema version {self.meta.get('schema_version')!r}, this acdc-tui reads versions {', '.join(map(str, schema.READABLE_VERSIONS))}: upgrade acdc-tui")

    def close(self) -> None:
        self._conn.close()

    def refresh_meta(self) -> dict:
        self.meta = {k: orjson.loads(v) for k, v in self._conn.execute("SELECT key, value FROM meta").fetchall()}
        return self.meta

    # ---- runs and events ----

    def runs(self) -> list[tuple[int, float]]:
        """(run id, starting τ), in order."""
        return [(r, t) for r, t in self._conn.execute("SELECT id, threshold FROM runs ORDER BY id")]

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
        return [EventRow(p, r, s, k, orjson.loads(d), t, bool(x)) for p, r, s, k, d, t, x in self._conn.execute(sql, args)]

    def last_pos(self) -> int:
        return self._conn.execute("SELECT COALESCE(MAX(pos), 0) FROM events").fetchone()[0]

    def count_events(self, run: int | None = None) -> int:
        if run is None:
            return self._conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        return self._conn.execute("SELECT COUNT(*) FROM events WHERE run = ?", (run,)).fetchone()[0]

    def sessions(self) -> list[dict]:
        cols = ("id", "pid", "host", "started", "ended", "engine", "resumed_at", "exit")
        return [dict(zip(cols, row)) for row in self._conn.execute(f"SELECT {', '.join(cols)} FROM sessions ORDER BY id")]

    # ---- status ----

    def status(self) -> dict:
        row = self._conn.execute("SELECT data FROM status WHERE id = 1").fetchone()
        return orjson.loads(row[0]) if row else {}

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
