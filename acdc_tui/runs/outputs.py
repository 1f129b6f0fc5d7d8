"""A run's output files: checked before any work, locked while the run holds them, written atomically.

Nothing is lost or clobbered: outputs may not coincide with each other or with an input (the task's
own files, the model checkpoint, the journal); each is written through a uniquely named temporary
file and renamed into place; while a run holds an output, a second run asking for the same file is
refused (a lock that dies with the process); and a write that fails at the end (disk full) leaves
the journal intact and names the `acdc-tui export` command that recreates the file.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from acdc_tui.core.errors import UserError
from acdc_tui.io.circuit import Circuit
from acdc_tui.io.writer import write_circuit_as
from acdc_tui.runs.journal.lock import Lock, holder


@dataclass(frozen=True)
class Outputs:
    out: Path | None = None  # the circuit, in `fmt`
    dot: Path | None = None  # Graphviz DOT
    fmt: str = "json"  # json (everything), eap (EAP-IG / MIB graph JSON) or dot

    def named(self) -> list[tuple[str, Path]]:
        return [(flag, path) for flag, path in (("--out", self.out), ("--dot", self.dot)) if path is not None]


def check_writable(path: str | Path | None, flag: str = "output") -> None:
    """One line, before any work, if `path` cannot be written: empty, a directory, a missing or read-only folder."""
    if path is None:
        return
    if str(path) == "":
        raise UserError(f"{flag} is empty: give a file name")
    p = Path(path)
    if str(path).endswith(os.sep) or p.is_dir():
        raise UserError(f"{flag} {p} is a directory: give a file name to write (e.g. {p / 'circuit.json'})")
    try:
        st = os.stat(p)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise UserError(f"cannot write {flag} {p}: {e.strerror or type(e).__name__}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise UserError(f"{flag} {p} is not a regular file (a device, a pipe or a socket): acdc-tui writes only regular files; give a file name")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"cannot write {p}: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise UserError(f"cannot write {p}: directory {str(parent)!r} is not writable")
    if p.exists() and not os.access(p, os.W_OK):
        raise UserError(f"cannot write {p}: the file is read-only")


def same_file(a: str | Path, b: str | Path) -> bool:
    pa, pb = Path(a), Path(b)
    try:
        if pa.exists() and pb.exists():
            return os.path.samefile(pa, pb)
    except OSError:
        pass
    return pa.resolve() == pb.resolve()


def check_distinct(outputs: Iterable[tuple[str, str | Path | None]], inputs: Iterable[tuple[str, str | Path | None]] = ()) -> None:
    """Refuse outputs that coincide with each other or with an input (one line, before any work)."""
    named_outputs = [(flag, p) for flag, p in outputs if p is not None]
    for i, (flag, path) in enumerate(named_outputs):
        check_writable(path, flag)
        for other_flag, other in named_outputs[i + 1 :]:
            if same_file(path, other):
                raise UserError(f"{flag} and {other_flag} are the same file ({path}): give each output its own name")
        for in_flag, source in inputs:
            if source is not None and same_file(path, source):
                raise UserError(f"{flag} {path} is the same file as {in_flag}: writing it would destroy an input; choose another name")


def task_inputs(task_dir: str | None, model_path: str | None, journal: str | Path | None = None, prompts: str | None = None) -> list[tuple[str, Path]]:
    """The files a run reads, which no output may overwrite."""
    inputs: list[tuple[str, Path]] = [] if prompts is None else [("the --prompts file", Path(prompts))]
    for flag, folder in (("a file of --task-dir", task_dir), ("a file of --model", model_path)):
        if folder is not None and Path(folder).is_dir():
            inputs += [(f"{flag} ({f.name})", f) for f in sorted(Path(folder).iterdir()) if f.is_file()]
    if journal is not None:
        inputs.append(("the journal", Path(journal)))
    return inputs


class OutputLocks:
    """Locks on every output for the run's lifetime: a second run naming one of them is refused."""

    def __init__(self, outputs: Iterable[tuple[str, Path]], journal: str | Path | None) -> None:
        self._locks: list[Lock] = []
        for flag, path in outputs:
            try:
                lock = Lock.acquire(path, {"journal": None if journal is None else str(journal)})
            except UserError:
                self.release()
                raise
            if lock is None:
                self.release()
                note = holder(path)
                by = f" (pid {note.get('pid', '?')}, journal {note.get('journal')})" if note else ""
                raise UserError(f"{flag} {path} is being written by another run{by}: wait for it, or choose another {flag}")
            self._locks.append(lock)

    def release(self) -> None:
        for lock in self._locks:
            lock.release()
        self._locks = []


def write_outputs(circuit: Circuit, outputs: Outputs, journal: str | Path | None) -> None:
    """Write the circuit files atomically; if that fails, one line naming the command that recreates them."""
    for flag, path in outputs.named():
        try:
            write_circuit_as(circuit, path, "dot" if flag == "--dot" else outputs.fmt)
        except (OSError, UserError) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            if isinstance(e, UserError) and journal is None:
                raise
            if journal is None:
                raise UserError(f"cannot write {path}: {reason}") from None
            reason = reason.removeprefix(f"cannot write {path}: ").split("; ")[0]
            step = "" if circuit.complete else " (the partial circuit)"
            option = "--dot" if flag == "--dot" else "--out"
            fmt = "" if flag == "--dot" or outputs.fmt == "json" else f" --format {outputs.fmt}"
            raise UserError(
                f"cannot write {path}: {reason}; every decision is kept in the journal {journal}: "
                f"recreate the file{step} with `acdc-tui export {journal} {option} {path}{fmt}`"
            ) from None
