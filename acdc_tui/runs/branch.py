"""Branching: continue a run from any past event with a different τ, pins or force-prunes.

A branch is a new journal whose meta names its parent journal and branch point, and whose first
events are the parent's up to that point, copied as recorded. Its changes (a τ, pins,
force-prunes) are queued as commands; resuming the branch replays the copied prefix without
evaluating, applies the commands at the branch point, and continues. Replaying a branch's journal
from scratch therefore gives its circuit, like any journal's.
"""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path

from acdc_tui.core.errors import UserError
from acdc_tui.runs.journal.reader import JournalReader
from acdc_tui.runs.journal.schema import CommandKind, CommandStatus
from acdc_tui.runs.journal.writer import JournalWriter
from acdc_tui.runs.paths import new_journal_path

_NOT_COPIED = ("schema", "schema_version", "client_seen", "metrics")


def create_branch(
    parent: str | Path,
    step: int,
    threshold: float | None = None,
    pins: tuple[str, ...] = (),
    force_prunes: tuple[str, ...] = (),
    journal: str | Path | None = None,
) -> Path:
    """Write the branch's journal (prefix copied, changes queued as commands); returns its path."""
    parent = Path(parent)
    reader = JournalReader(parent)
    try:
        meta = reader.meta
        if meta.get("kind") != "run":
            raise UserError(f"{parent} records a {meta.get('kind')}: branch from the journal of a single run")
        rows = [r for r in reader.events(run=1) if not r.superseded]
        if not rows or step < 0 or step > rows[-1].seq:
            raise UserError(f"--step {step} is not an event of {parent}: give a number from 0 to {rows[-1].seq if rows else 0}")
        prefix = [r for r in rows if r.seq <= step and not (r.kind == "RunFinished")]
        start_tau = reader.runs()[0][1] if reader.runs() else float(meta["settings"]["threshold"])
    finally:
        reader.close()
    if threshold is not None and not math.isfinite(threshold):
        raise UserError(f"threshold {threshold!r} is not a finite number")
    label = f"{meta.get('task', {}).get('name', 'run')}-branch"
    path = Path(journal) if journal is not None else new_journal_path(label, threshold if threshold is not None else start_tau)
    branch_meta = {k: v for k, v in meta.items() if k not in _NOT_COPIED}
    branch_meta["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    branch_meta["parent"] = {"journal": str(parent.resolve()), "step": prefix[-1].seq if prefix else 0, "threshold": threshold, "pins": list(pins), "force_prunes": list(force_prunes)}
    writer = JournalWriter.create(path, branch_meta)
    try:
        writer.add_run(1, start_tau)
        writer.copy_events(prefix)
        if threshold is not None:
            writer.record_command(CommandKind.THRESHOLD, threshold, "branch", 1, CommandStatus.PENDING)
        for action, edges in ((CommandKind.PIN, pins), (CommandKind.FORCE_PRUNE, force_prunes)):
            for edge in edges:
                writer.record_command(action, edge, "branch", 1, CommandStatus.PENDING)
    finally:
        writer.close()
    return path


def branches_of(journal: str | Path, folder: Path | None = None) -> list[tuple[Path, dict]]:
    """Journals in `folder` (default: the journal's own) whose parent is `journal`: (path, parent meta)."""
    from acdc_tui.runs.paths import journals

    journal = Path(journal).resolve()
    out = []
    for path in journals(folder or journal.parent):
        try:
            reader = JournalReader(path)
            parent = reader.meta.get("parent")
            reader.close()
        except UserError:
            continue
        if parent and Path(parent.get("journal", "")).resolve() == journal:
            out.append((path, parent))
    return out


def family_of(journal: str | Path) -> list[tuple[Path, int, str]]:
    """The run's whole family, root first, each branch under its parent: (journal, depth, label)."""
    root = Path(journal).resolve()
    seen = {root}
    while True:  # up to the first run
        reader = JournalReader(root)
        parent = (reader.meta.get("parent") or {}).get("journal")
        reader.close()
        if not parent or not Path(parent).is_file() or Path(parent).resolve() in seen:
            break
        root = Path(parent).resolve()
        seen.add(root)
    out: list[tuple[Path, int, str]] = []

    def visit(path: Path, depth: int, point: dict | None) -> None:
        reader = JournalReader(path)
        tau = reader.runs()[0][1] if reader.runs() else None
        reader.close()
        if point is None:
            label = f"{path.name}  (τ {tau:g})" if tau is not None else path.name
        else:
            change = f"τ {point['threshold']:g}" if point.get("threshold") is not None else "same τ"
            extra = len(point.get("pins") or []) + len(point.get("force_prunes") or [])
            label = f"{path.name}  (from event {point['step']}, {change}{f', {extra} overrides' if extra else ''})"
        out.append((path, depth, label))
        for child, child_point in branches_of(path):
            if child.resolve() not in {p.resolve() for p, _, _ in out}:
                visit(child, depth + 1, child_point)

    visit(root, 0, None)
    return out
