"""Atomic file output: a reader never sees half a file, and two writers never share a temporary file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from acdc_tui.core.errors import UserError


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` through a uniquely named temporary file in the same folder.

    The temporary file is flushed to disk before it replaces `path` (os.replace is atomic within
    one file system), so a crash or a full disk leaves either the old file or the new one.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"cannot write {path}: the folder {str(folder)!r} does not exist; create it or choose another path")
    try:
        handle, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise UserError(f"cannot write {path}: {_reason(e)}; choose a writable folder") from None
    try:
        with os.fdopen(handle, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_name, 0o666 & ~_UMASK)  # mkstemp makes it 0600; give it a normal file's mode
        os.replace(tmp_name, path)
    except OSError as e:
        _remove_quietly(tmp_name)
        raise UserError(f"cannot write {path}: {_reason(e)}; free some space or choose another path") from None
    except BaseException:
        _remove_quietly(tmp_name)
        raise
    return path


def _reason(e: OSError) -> str:
    """The system's reason in lower case (a whole phrase, never a cut message)."""
    return (e.strerror or type(e).__name__).lower()


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import, before any thread starts
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _remove_quietly(name: str) -> None:
    try:
        os.unlink(name)
    except OSError:
        pass
