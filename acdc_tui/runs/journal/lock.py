"""Locks that die with their process: a run holds one on its journal (so `ps` tells a live run from a
crashed one, and two processes never write one journal) and one on each output.

The lock file of `dir/name` is `dir/.name.acdc-tui-lock` (a hash stands in for a name too long for
the filesystem): a name no other tool uses, so `--out uv` never touches uv.lock. It is created
with O_NOFOLLOW | O_CREAT, mode 0600, and refused when it is a symlink, not a regular file or
another user's. A run removes only the lock file it holds (the same inode), never another file.

Liveness comes from the note the holder wrote into its lock (pid, the process's start time, host),
checked against /proc, not from flock alone: another process's flock on the file (another user
cannot even open it: 0600) cannot make a crashed run look live. flock() still keeps two live
processes of this user from holding one lock at once; the kernel drops it on any exit, kill -9 too.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import socket
import stat
import time
from pathlib import Path

import orjson

from acdc_tui.core.errors import UserError

SUFFIX = ".acdc-tui-lock"
NAME_MAX = 255


def lock_path(path: str | Path) -> Path:
    """`dir/.name.acdc-tui-lock`; a long name is cut and a hash of it added, so it always fits."""
    p = Path(path)
    name = f".{p.name}{SUFFIX}"
    if len(os.fsencode(name)) > NAME_MAX:
        digest = hashlib.sha256(os.fsencode(p.name)).hexdigest()[:16]
        stem = os.fsencode(p.name)[:150].decode("utf-8", "ignore")
        name = f".{stem}.{digest}{SUFFIX}"
    return p.parent / name


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22), or None."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    try:
        fields = data[data.rindex(b")") + 2 :].split()
        if fields[0] == b"Z":
            return None  # a zombie has exited
        return int(fields[19])
    except (ValueError, IndexError):
        return None


def pid_alive(pid: object, start: object = None) -> bool:
    """Whether process `pid` lives and (given its start time) is the same process, not a reused pid."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    now = _start_time(pid)
    if now is None:
        if Path("/proc/self/stat").exists():
            return False
        try:  # no /proc: signal 0
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return start is None or start == now


def _open_lock(lp: Path) -> int:
    """Open (creating 0600) the lock file; refuse symlinks, non-regular files and other users' files."""
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(lp, flags, 0o600)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.EMLINK):
            raise UserError(f"{lp} is a symbolic link: acdc-tui never writes through one; remove it") from None
        if e.errno == errno.ENAMETOOLONG:
            raise UserError(f"cannot create the lock file {lp}: the name is too long for this filesystem") from None
        raise UserError(f"cannot create the lock file {lp} ({e.strerror or e}): the folder must be writable") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UserError(f"{lp} is not a regular file: remove it")
        if st.st_uid != os.geteuid():
            raise UserError(f"{lp} belongs to another user (uid {st.st_uid}): acdc-tui uses only its own lock files; remove it or write elsewhere")
        if st.st_nlink != 1:
            raise UserError(f"{lp} has other hard links: remove it")
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.fchmod(fd, 0o600)
        fl = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, fl & ~os.O_NONBLOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


class Lock:
    """An exclusive lock on the lock file of `path`, holding a note (pid, start time, host, what) for liveness and messages."""

    def __init__(self, path: str | Path, fd: int) -> None:
        self.path, self._fd = lock_path(path), fd
        self._ino = os.fstat(fd).st_ino

    @classmethod
    def acquire(cls, path: str | Path, note: dict) -> "Lock | None":
        """The lock, or None when another live process holds it."""
        lp = lock_path(path)
        old = legacy_holder(path)
        if old is not None:
            raise UserError(f"{path} is in use by a run of an earlier acdc-tui (pid {old}, lock {path}.lock): let it finish or stop it (kill {old}), then retry")
        for attempt in range(8):
            fd = _open_lock(lp)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                if attempt >= 4 and not pid_alive(holder(path).get("pid"), holder(path).get("start")):
                    # flocked, but by no run: a stranger's flock (or a forked child's) on our file
                    raise UserError(f"{lp} is locked by a process that is not an acdc-tui run (the run that wrote it, pid {holder(path).get('pid', '?')}, has ended): remove {lp} and retry")
                time.sleep(0.02 * (attempt + 1))
                continue
            try:
                here = os.lstat(lp)
            except OSError:
                here = None
            if here is None or here.st_ino != os.fstat(fd).st_ino:  # removed or replaced while we waited
                os.close(fd)
                continue
            break
        else:
            return None
        os.ftruncate(fd, 0)
        os.write(fd, orjson.dumps({"pid": os.getpid(), "start": _start_time(os.getpid()), "host": socket.gethostname(), **note}))
        return cls(path, fd)

    def release(self) -> None:
        if self._fd < 0:
            return
        try:
            here = os.lstat(self.path)
            if here.st_ino == self._ino and stat.S_ISREG(here.st_mode):  # only the file we hold
                self.path.unlink()
        except OSError:
            pass
        finally:
            os.close(self._fd)
            self._fd = -1


def holder(path: str | Path) -> dict:
    """The note the lock's holder left (pid, start, host, journal), or {} (no file, a symlink, garbage)."""
    return _note(lock_path(path))


def _note(lp: Path) -> dict:
    """A lock file's JSON note, or {} (no file, a symlink, not a regular file, garbage)."""
    try:
        fd = os.open(lp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return {}
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return {}
        data = os.read(fd, 65536)
    except OSError:
        return {}
    finally:
        os.close(fd)
    try:
        note = orjson.loads(data)
    except orjson.JSONDecodeError:
        return {}
    return note if isinstance(note, dict) else {}


def _flocked(lp: Path) -> bool:
    """Whether some process holds an exclusive flock on `lp` (a shared probe fails)."""
    try:
        fd = os.open(lp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def legacy_holder(path: str | Path) -> int | None:
    """The pid of a live run of an acdc-tui from before the `.NAME.acdc-tui-lock` files, which flocked
    `NAME.lock` with a note {"pid": ...}: such a run may still be writing `path` (a journal resumed or an
    output written by a newer version meanwhile would be written twice). None when there is none."""
    lp = Path(str(path) + ".lock")
    pid = _note(lp).get("pid")
    if isinstance(pid, int) and not isinstance(pid, bool) and pid != os.getpid() and pid_alive(pid) and _flocked(lp):
        return pid
    return None


def held(path: str | Path) -> bool:
    """Whether a live run holds the lock of `path`: its note's pid lives and is the same process.
    On another host (a shared filesystem) the pid cannot be checked: the flock decides there. A run
    of an earlier version holding the old-style `NAME.lock` counts too."""
    note = holder(path)
    if not note:
        return legacy_holder(path) is not None
    if note.get("host") not in (None, socket.gethostname()):
        return _flocked(lock_path(path))
    return pid_alive(note.get("pid"), note.get("start"))
