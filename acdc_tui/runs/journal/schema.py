"""The journal's SQLite schema, version 2 (documented in docs/journal-schema.md).

One file per job: a single run, or a sweep (one `runs` row per threshold). Every table is append-only
except `status` (one row, rewritten), `commands.status/result/applied_seq` (a command's outcome) and
`events.superseded` (an early stop that a later resume continued past).
"""

from __future__ import annotations

import os
import sqlite3
from enum import Enum
from urllib.parse import quote

SCHEMA = "acdc-tui.journal"
SCHEMA_VERSION = 2  # 2: meta `run_recipe` (the run as asked for) replaces `argv`
READABLE_VERSIONS = (1, 2)  # a version-1 journal's recipe is rebuilt from its `recipe`, `settings` and `outputs`
SUFFIX = ".journal"

DDL = """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL                 -- JSON
);
CREATE TABLE runs (
    id        INTEGER PRIMARY KEY,      -- 1 for a run; 1..N for the points of a sweep
    threshold REAL NOT NULL,            -- τ at the start of the run
    started   REAL NOT NULL             -- unix time
);
CREATE TABLE events (
    pos        INTEGER PRIMARY KEY,     -- order in the journal
    run        INTEGER NOT NULL REFERENCES runs(id),
    seq        INTEGER NOT NULL,        -- the run's own event number (Event.seq)
    kind       TEXT NOT NULL,           -- the event class: RunStarted, EdgeTested, ...
    data       TEXT NOT NULL,           -- JSON of the event's fields (codec.py)
    t          REAL NOT NULL,           -- unix time it was recorded
    command    INTEGER,                 -- the command that produced it (so no command is applied twice)
    superseded INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX events_by_run ON events (run, seq);
CREATE TABLE commands (
    id          INTEGER PRIMARY KEY,
    run         INTEGER,                -- null: whatever run is current
    t           REAL NOT NULL,
    source      TEXT NOT NULL,          -- cli | explorer | signal | resume | api
    action      TEXT NOT NULL,          -- CommandKind
    arg         TEXT,                   -- JSON
    status      TEXT NOT NULL DEFAULT 'pending',   -- pending | done | failed
    result      TEXT,                   -- one line for the user
    applied_seq INTEGER                 -- the event it produced, if any
);
CREATE TABLE sessions (                 -- every process that ran the job: the first, then each resume
    id         INTEGER PRIMARY KEY,
    pid        INTEGER NOT NULL,
    host       TEXT NOT NULL,
    started    REAL NOT NULL,
    ended      REAL,
    engine     TEXT,
    resumed_at INTEGER,                 -- events.pos the session continued after (null: the first)
    exit       TEXT                     -- finished | stopped (signal) | failed: message; null while running or crashed
);
CREATE TABLE status (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    data TEXT NOT NULL                  -- JSON: the run process's live status (see writer.py)
);
"""


class CommandKind(str, Enum):
    """What a client (or the command line, or a signal) asks the run process to do."""

    PLAY = "play"
    PAUSE = "pause"
    STEP_EDGE = "step_edge"
    STEP_NODE = "step_node"
    PIN = "pin"
    FORCE_PRUNE = "force_prune"
    CLEAR = "clear"
    THRESHOLD = "threshold"
    EXPORT = "export"
    STOP = "stop"  # stop the run: partial circuit written, the process exits
    QUIT = "quit"  # a finished run's process may exit now


class CommandStatus(str, Enum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


def configure(conn: sqlite3.Connection) -> None:
    """WAL: one writer and any number of readers at once, atomic commits. synchronous=FULL: a commit
    survives even a power cut; commits are batched (at most a few per second), so it costs little."""
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")


def connect(path: str, readonly: bool = False, configured: bool = True) -> sqlite3.Connection:
    """`readonly`: SQLite's read-only mode (the read-only commands). `configured=False`: a read-write
    connection with no pragma yet, so reading through it to check the file writes nothing (a client
    checks with it, then configures it: a read-only connection beside a read-write one to the same WAL
    file in one process fails with "disk I/O error", as the explorer's two connections would)."""
    if readonly:
        # no pragma: a file that is not (yet known to be) a journal is never written, not even its header
        return sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True, isolation_level=None, check_same_thread=False, timeout=10.0)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    if configured:
        configure(conn)
    return conn
