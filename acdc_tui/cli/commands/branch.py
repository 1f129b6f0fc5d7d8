"""`acdc-tui branch JOURNAL --step N`: a new run that starts as the journal's run at event N, with a new τ,
pins or force-prunes; it carries the parent's recipe (its journal's meta) and is then resumed."""

from __future__ import annotations

import argparse
import sys

from acdc_tui.cli import options
from acdc_tui.cli.commands import resume
from acdc_tui.cli.job import path as _path


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("branch", help="continue a run from a past event with another τ, pins or force-prunes (a new journal; the prefix is replayed, not re-evaluated)")
    p.add_argument("journal", help="the parent run's journal")
    p.add_argument("--step", type=int, required=True, metavar="N", help="branch right after event N")
    options.THRESHOLD.add(p, help="τ from the branch point on (default: the parent's)")
    options.PIN.add(p, help="pin this edge at the branch point (repeatable)")
    options.FORCE_PRUNE.add(p, help="force-prune this edge at the branch point (repeatable)")
    options.JOURNAL.add(p, dest="branch_journal", help="the branch's journal (default: a new file in acdc-output/runs/)")
    resume.add_continue_options(p, "the parent's")
    return p


def run(args: argparse.Namespace) -> int:
    from acdc_tui.runs.branch import create_branch

    path = create_branch(args.journal, args.step, args.threshold, tuple(args.pin), tuple(args.force_prune), _path(args.branch_journal, "--journal"))
    print(f"acdc-tui: branch of {args.journal} at event {args.step}: journal {path}", file=sys.stderr)
    args.journal, args.engine, args.device = str(path), getattr(args, "engine", None), getattr(args, "device", None)
    return resume.run(args)
