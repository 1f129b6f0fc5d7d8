"""Advisory locks that die with their process: a run holds `<journal>.lock` (so `ps` tells a live run
from a crashed one, and two processes never write one journal) and `<output>.lock` for each output.

flock() locks are released by the kernel when the process exits in any way, kill -9 included; the
lock file itself is only a name (removed on a clean exit, harmless when left behind).
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import orjson


class Lock:
    """An exclusive lock on `path + '.lock'`, holding a note (pid, what holds it) for the refusal message."""

    def __init__(self, path: str | Path, fd: int) -> None:
        self.path, self._fd = Path(str(path) + ".lock"), fd

    @classmethod
    def acquire(cls, path: str | Path, note: dict) -> "Lock | None":
        """The lock, or None when another live process holds it."""
        lock_path = str(path) + ".lock"
        for attempt in range(5):  # a reader's probe (held()) holds the lock for microseconds
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                os.close(fd)
                time.sleep(0.02 * (attempt + 1))
        else:
            return None
        os.ftruncate(fd, 0)
        os.write(fd, orjson.dumps({"pid": os.getpid(), **note}))
        return cls(path, fd)

    def release(self) -> None:
        if self._fd < 0:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = -1


def held(path: str | Path) -> bool:
    """Whether a live process holds the lock of `path` (its run is alive)."""
    lock_path = str(path) + ".lock"
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def holder(path: str | Path) -> dict:
    """The note the lock's holder left (pid, journal), or {}."""
    try:
        return orjson.loads(Path(str(path) + ".lock").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
