"""`acdc-tui attach [JOURNAL]`: reattach the explorer to a running run, or open a finished or dead one.
Without a journal: the live run most recently active, a chooser when several are live."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from acdc_tui.cli import options
from acdc_tui.core.errors import UserError

LIVE_STATES = ("loading", "running", "paused", "stepping")  # only while a process holds the journal


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("attach", help="reattach the explorer to a running run, or open a finished or dead one (default: the live run most recently active)")
    p.add_argument("journal", nargs="?", default=None, help="the run's journal (default: the live run most recently active in acdc-output/runs/, a chooser when several are live, else the newest journal)")
    options.OUT.add(p, help="where Export (e) writes (default: beside the journal, named after the run)")
    options.ASCII.add(p, help="draw with ASCII only")
    options.SCORES.add(p)
    return p


def run(args: argparse.Namespace) -> int:
    from acdc_tui.cli.commands.explore import explore
    from acdc_tui.cli.job import interactive
    from acdc_tui.runs.client import RunClient
    from acdc_tui.runs.paths import journals, runs_dir

    if not interactive():
        raise UserError("attach opens the explorer, which needs a terminal: run it in one (or `acdc-tui serve JOURNAL` for a browser); `acdc-tui ps` lists the runs without one")
    if args.journal is None:
        journal = pick_journal(journals())
        if journal is None:
            return 0
    else:
        journal = Path(args.journal)
        if not journal.is_file():
            raise UserError(f"journal {journal} does not exist: `acdc-tui ps` lists the runs in {runs_dir()}")
    args.run = False
    return explore(RunClient(journal), args, description=str(journal))


def live_runs(found: list[Path]) -> list[tuple[Path, float, str]]:
    """The journals a live run process holds: (journal, when it was last active, a line for a chooser), most recent first."""
    from acdc_tui.runs.journal.reader import JournalReader
    from acdc_tui.runs.journal.view import summarize

    live = []
    for path in found:
        try:
            summary = summarize(path)
            if summary.state.value not in LIVE_STATES:
                continue
            reader = JournalReader(path, readonly=True)
            try:
                updated = float(reader.status().get("updated") or path.stat().st_mtime)
            finally:
                reader.close()
        except (UserError, OSError, ValueError):
            continue
        tau = "" if summary.threshold is None else f" τ {summary.threshold:g}"
        live.append((path, updated, f"{summary.state.value:<8} {summary.task}{tau}  {summary.done}/{summary.total}  {path.name}"))
    return sorted(live, key=lambda entry: -entry[1])


def pick_journal(found: list[Path]) -> Path | None:
    """The live run most recently active; a chooser when several are live and there is a terminal; the
    newest journal when none is (it opens finished or dead). None: the user chose none."""
    from acdc_tui.runs.paths import runs_dir

    if not found:
        raise UserError(f"no runs in {runs_dir()}: start one with `acdc-tui --task NAME`, or give a journal")
    live = live_runs(found)
    if not live:
        print(f"acdc-tui: no run is live; opening the most recent journal {found[-1]}", file=sys.stderr)
        return found[-1]
    if len(live) == 1 or not sys.stdin.isatty():
        if len(live) > 1:
            print(f"acdc-tui: {len(live)} runs are live; attaching to the most recently active, {live[0][0].name} (`acdc-tui ps` lists them)", file=sys.stderr)
        return live[0][0]
    from acdc_tui.ui.run_chooser import RunChooser

    return RunChooser([(path, line) for path, _, line in live]).run()
