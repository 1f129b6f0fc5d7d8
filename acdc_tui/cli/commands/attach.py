"""`acdc-tui attach [JOURNAL]`: reattach the explorer to a running run, or open a finished or dead one."""

from __future__ import annotations

import argparse
from pathlib import Path

from acdc_tui.cli import options
from acdc_tui.core.errors import UserError


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("attach", help="reattach the explorer to a running run, or open a finished or dead one (default: the most recent)")
    p.add_argument("journal", nargs="?", default=None, help="the run's journal (default: the newest in acdc-output/runs/)")
    options.OUT.add(p, help="where Export (e) writes (default acdc-output/circuit.json)")
    options.ASCII.add(p, help="draw with ASCII only")
    options.SCORES.add(p)
    return p


def run(args: argparse.Namespace) -> int:
    from acdc_tui.cli.commands.explore import explore
    from acdc_tui.runs.client import RunClient
    from acdc_tui.runs.paths import journals, output_dir, runs_dir

    if args.journal is None:
        found = journals()
        if not found:
            raise UserError(f"no runs in {runs_dir()}: start one with `acdc-tui --task NAME`, or give a journal")
        journal = found[-1]
    else:
        journal = Path(args.journal)
        if not journal.is_file():
            raise UserError(f"journal {journal} does not exist: `acdc-tui ps` lists the runs in {runs_dir()}")
    args.out = args.out or str(output_dir() / "circuit.json")
    args.run = False
    return explore(RunClient(journal), args, description=str(journal))
