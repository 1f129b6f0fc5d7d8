"""Where runs write by default: `acdc-output/` (or $ACDC_TUI_OUTPUT), journals in its `runs/` folder,
named after the task, τ and start time so that `ls` and `acdc-tui ps` read like a lab notebook."""

from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path

from acdc_tui.runs.journal.schema import SUFFIX


def output_dir() -> Path:
    """ACDC_TUI_OUTPUT, or acdc-output; one line if it names something that is not a folder."""
    folder = Path(os.environ.get("ACDC_TUI_OUTPUT") or "acdc-output")
    if folder.exists() and not folder.is_dir():
        from acdc_tui.core.errors import UserError

        raise UserError(f"ACDC_TUI_OUTPUT={folder} is not a folder: set it to a folder (acdc-tui makes it if it does not exist)")
    return folder


def runs_dir() -> Path:
    return output_dir() / "runs"


def new_journal_path(label: str, threshold: float | None, folder: Path | None = None) -> Path:
    """A journal path that does not exist yet: `<task>-tau<τ>-<YYYYmmdd-HHMMSS>[-n].journal`."""
    folder = runs_dir() if folder is None else folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        from acdc_tui.core.errors import UserError

        raise UserError(f"cannot make the runs folder {folder} ({e.strerror or type(e).__name__}): set ACDC_TUI_OUTPUT to a writable folder, or give --journal") from None
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "run"
    tau = "" if threshold is None else f"-tau{threshold:g}"
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    stem = f"{safe}{tau}-{stamp}"
    path, n = folder / f"{stem}{SUFFIX}", 2
    while path.exists():
        path, n = folder / f"{stem}-{n}{SUFFIX}", n + 1
    return path


def sidecar(journal: Path, suffix: str) -> Path:
    """A file that belongs to a journal: `x.journal` -> `x<suffix>` (its circuit JSON, its output)."""
    name = journal.name[: -len(SUFFIX)] if journal.name.endswith(SUFFIX) else journal.name
    return journal.with_name(name + suffix)


def journals(folder: Path | None = None) -> list[Path]:
    """Journals in `folder` (default the runs folder), oldest first."""
    folder = runs_dir() if folder is None else folder
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.glob(f"*{SUFFIX}") if p.is_file()), key=lambda p: p.stat().st_mtime)
