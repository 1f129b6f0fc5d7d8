"""`acdc-tui ps`: the runs in acdc-output/runs/ (or the given journals): state, progress, journal."""

from __future__ import annotations

import argparse
import datetime as _dt
from pathlib import Path

from acdc_tui.core.errors import UserError


def register(subparsers) -> argparse.ArgumentParser:
    ps = subparsers.add_parser("ps", help="list the runs in acdc-output/runs/ (or the given journals): state, progress, journal")
    ps.add_argument("journals", nargs="*", help="journals or folders (default acdc-output/runs/)")
    return ps


def run(args: argparse.Namespace) -> int:
    from acdc_tui.runs.journal.schema import SUFFIX
    from acdc_tui.runs.journal.view import summarize
    from acdc_tui.runs.paths import journals, runs_dir

    paths: list[Path] = []
    for given in args.journals or [str(runs_dir())]:
        p = Path(given)
        paths += journals(p) if p.is_dir() else [p]
    if not paths:
        print(f"no runs in {args.journals[0] if args.journals else runs_dir()} (journals are *{SUFFIX} files)")
        return 0
    rows = []
    for path in paths:
        try:
            s = summarize(path)
        except UserError as e:
            rows.append(("unreadable", "", "", "", "", "", "", f"{path}  ({e})"))
            continue
        progress = f"{s.done}/{s.total}" if s.total else ""
        pid = f" pid {s.pid}" if s.pid else ""
        rows.append((s.state.value + pid, s.task, _g(s.threshold), progress, "" if s.kept is None else str(s.kept), _g(s.metric), _started(s.started), str(s.path)))
    header = ("STATE", "TASK", "TAU", "DECIDED", "KEPT", "METRIC", "STARTED", "JOURNAL")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def _g(x) -> str:
    return "" if x is None else f"{x:.4g}"


def _started(iso: str) -> str:
    try:
        return _dt.datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso
