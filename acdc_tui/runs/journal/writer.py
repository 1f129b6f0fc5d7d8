"""The run process's side of the journal: create it, append events, read commands, keep a status.

Durability: events are committed by a flusher thread, at once when the last commit is 0.5 s old or
more, otherwise together with the events that follow, at most 0.5 s after they were recorded. So a
run killed in any way (kill -9 included) loses at most the edge under test and the last 0.5 s of
decisions, a fast run commits only about twice a second, and the run's own thread never waits for
a commit's fsync (SQLite releases the interpreter lock while it writes).

Two locks: `_mutex` guards the pending batch (held for microseconds: the run appends under it),
`_db` the connection (held through a commit). Taking a batch and committing it happen under `_db`,
so batches reach the file in the order they were recorded.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable

import orjson

from acdc_tui.core.errors import UserError
from acdc_tui.core.events import Event
from acdc_tui.runs.journal import schema
from acdc_tui.runs.journal.codec import encode_event
from acdc_tui.runs.journal.lock import Lock, holder
from acdc_tui.runs.journal.schema import CommandKind, CommandStatus

COMMIT_INTERVAL_S = 0.5


class JournalWriter:
    def __init__(self, path: Path, conn: sqlite3.Connection, lock: Lock) -> None:
        self.path, self._conn, self._lock_file = path, conn, lock
        self._mutex = threading.Lock()
        self._db = threading.RLock()
        self._pending: list[tuple] = []
        self._last_commit = 0.0
        self._status: dict | None = None  # written with the next commit
        self.status_provider: Callable[[], dict] | None = None
        self._wake = threading.Condition(self._mutex)
        self._closed = False
        self.session_id: int | None = None
        self._applied: set[int] | None = None  # ids of commands whose events are recorded
        self._flusher = threading.Thread(target=self._flush_loop, name="journal-flusher", daemon=True)
        self._flusher.start()

    # ---- opening ----

    @classmethod
    def create(cls, path: str | Path, meta: dict) -> "JournalWriter":
        """A new journal at `path`, which must not exist: written whole under a temporary name, then
        linked into place (so a journal is never half-initialised and never replaces another)."""
        path = Path(path)
        if path.exists():
            raise UserError(f"journal {path} already exists: resume it with `acdc-tui resume {path}`, or choose another --journal")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            conn.executescript(schema.DDL)
            rows = [("schema", schema.SCHEMA), ("schema_version", schema.SCHEMA_VERSION), *meta.items()]
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO meta VALUES (?, ?)", [(k, orjson.dumps(v).decode()) for k, v in rows])
            conn.execute("COMMIT")
            conn.close()
            os.link(tmp, path)  # fails if `path` appeared meanwhile: never clobber another journal
        except FileExistsError:
            raise UserError(f"journal {path} already exists: choose another --journal") from None
        except OSError as e:
            raise UserError(f"cannot create journal {path}: {e.strerror}: choose a writable --journal path") from None
        finally:
            tmp.unlink(missing_ok=True)
        return cls.open(path)

    @classmethod
    def open(cls, path: str | Path, lock: Lock | None = None) -> "JournalWriter":
        """Open an existing journal to append to it (a new run process, or a resume); `lock`: the
        journal's lock, already taken (resume claims it before it checks the run is not alive)."""
        path = Path(path)
        lock = lock or Lock.acquire(path, {"journal": str(path)})
        if lock is None:
            pid = holder(path).get("pid", "?")
            raise UserError(f"journal {path} is in use by a running process (pid {pid}): attach to it with `acdc-tui attach {path}`")
        try:
            conn = schema.connect(str(path))
        except sqlite3.Error as e:
            lock.release()
            raise UserError(f"cannot open journal {path} ({e}): it is not an acdc-tui journal") from None
        return cls(path, conn, lock)

    # ---- sessions, runs, meta ----

    def start_session(self, engine: str, resumed_at: int | None = None) -> int:
        with self._db:
            cur = self._conn.execute(
                "INSERT INTO sessions (pid, host, started, engine, resumed_at) VALUES (?, ?, ?, ?, ?)",
                (os.getpid(), socket.gethostname(), time.time(), engine, resumed_at),
            )
            self.session_id = cur.lastrowid
            return self.session_id

    def end_session(self, exit_note: str) -> None:
        with self._db:
            self._flush()
            self._conn.execute("UPDATE sessions SET ended = ?, exit = ? WHERE id = ?", (time.time(), exit_note, self.session_id))

    def add_run(self, run_id: int, threshold: float) -> None:
        with self._db:
            self._conn.execute("INSERT OR IGNORE INTO runs (id, threshold, started) VALUES (?, ?, ?)", (run_id, threshold, time.time()))

    def set_meta(self, key: str, value) -> None:
        with self._db:
            self._conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, orjson.dumps(value).decode()))

    def supersede(self, pos: int) -> None:
        """Mark an early stop as continued past (a resume)."""
        with self._db:
            self._conn.execute("UPDATE events SET superseded = 1 WHERE pos = ?", (pos,))

    # ---- events ----

    def append(self, run_id: int, event: Event, command_id: int | None = None) -> None:
        kind, fields = encode_event(event)
        row = (run_id, event.seq, kind, orjson.dumps(fields).decode(), time.time(), command_id)
        with self._mutex:
            self._pending.append(row)
            if command_id is not None and self._applied is not None:
                self._applied.add(command_id)
            self._wake.notify()

    def copy_events(self, rows) -> None:
        """Copy another journal's event rows (EventRow) as they were recorded: a branch's prefix."""
        with self._db:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT INTO events (run, seq, kind, data, t) VALUES (?, ?, ?, ?, ?)",
                [(r.run, r.seq, r.kind, orjson.dumps(r.data).decode(), r.t) for r in rows],
            )
            self._conn.execute("COMMIT")

    def set_status(self, status: dict, now: bool = False) -> None:
        with self._mutex:
            self._status = status
            self._wake.notify()
        if now:
            self._flush()

    def flush(self) -> None:
        """Commit what is pending now (before reading commands' outcomes, closing, ...)."""
        self._flush()

    def _flush(self) -> None:
        if self.status_provider is not None and self._pending:
            status = self.status_provider()  # read outside the locks: a few counters of the run
            with self._mutex:
                self._status = status
        with self._db:
            with self._mutex:
                if self._closed or (not self._pending and self._status is None):
                    return
                batch, status, self._pending, self._status = self._pending, self._status, [], None
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    if batch:
                        self._conn.executemany("INSERT INTO events (run, seq, kind, data, t, command) VALUES (?, ?, ?, ?, ?, ?)", batch)
                    if status is not None:
                        self._conn.execute("INSERT OR REPLACE INTO status (id, data) VALUES (1, ?)", (orjson.dumps(status).decode(),))
                    self._conn.execute("COMMIT")
                except BaseException:
                    # SQLite rolls back by itself on a full disk (SQLITE_FULL): a second ROLLBACK
                    # would replace that error with "cannot rollback - no transaction is active"
                    if self._conn.in_transaction:
                        try:
                            self._conn.execute("ROLLBACK")
                        except sqlite3.Error:
                            pass
                    raise
            except BaseException:
                with self._mutex:  # not lost: committed with the next batch
                    self._pending[:0] = batch
                    self._status = self._status or status
                raise
            with self._mutex:
                self._last_commit = time.monotonic()

    def _flush_loop(self) -> None:
        while True:
            with self._mutex:
                while not self._closed and not (self._pending or self._status is not None):
                    self._wake.wait()
                if self._closed:
                    return
                wait = self._last_commit + COMMIT_INTERVAL_S - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
            try:
                self._flush()
            except sqlite3.Error:  # kept pending; the run's own thread reports errors at its next flush
                time.sleep(0.1)

    # ---- commands ----

    def record_command(self, action: CommandKind, arg=None, source: str = "cli", run_id: int | None = None, status: CommandStatus = CommandStatus.PENDING) -> int:
        with self._db:
            cur = self._conn.execute(
                "INSERT INTO commands (run, t, source, action, arg, status) VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, time.time(), source, action.value, orjson.dumps(arg).decode(), status.value),
            )
            return cur.lastrowid

    def pending_commands(self) -> list[tuple[int, CommandKind, object, str]]:
        """(id, action, arg, source) of commands not yet applied, oldest first. A command whose event
        is recorded was applied, even if the process died before it could mark it done."""
        with self._db:
            if self._applied is None:  # once per process: what earlier processes applied
                recorded = {c for (c,) in self._conn.execute("SELECT command FROM events WHERE command IS NOT NULL")}
                with self._mutex:
                    self._applied = recorded | {row[-1] for row in self._pending if row[-1] is not None}
            rows = self._conn.execute("SELECT id, action, arg, source FROM commands WHERE status = 'pending' ORDER BY id").fetchall()
        with self._mutex:
            applied = set(self._applied)
        out = []
        for cid, action, arg, source in rows:
            if cid in applied:
                continue
            try:
                out.append((cid, CommandKind(action), orjson.loads(arg) if arg else None, source))
            except ValueError:
                self.finish_command(cid, CommandStatus.FAILED, f"unknown command {action!r}")
        return out

    def finish_command(self, command_id: int, status: CommandStatus, result: str | None = None, applied_seq: int | None = None) -> None:
        with self._db:
            self._flush()  # the events a command produced are visible before its outcome
            self._conn.execute("UPDATE commands SET status = ?, result = ?, applied_seq = ? WHERE id = ?", (status.value, result, applied_seq, command_id))

    def client_seen(self) -> float:
        """When a client (the explorer) last said it is attached; 0 if never."""
        with self._db:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'client_seen'").fetchone()
        return float(orjson.loads(row[0])) if row else 0.0

    # ---- closing ----

    def close(self) -> None:
        with self._db:
            if self._closed:
                return
            try:
                self._flush()
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # leave one self-contained file
            except sqlite3.Error:
                pass
            with self._mutex:
                self._closed = True
                self._wake.notify_all()
            self._conn.close()
        self._lock_file.release()


def host() -> str:
    return socket.gethostname()
