"""`acdc-tui resume JOURNAL`: continue a stopped or crashed run; its recipe comes from the journal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from acdc_tui.cli import options
from acdc_tui.cli.job import path as _path
from acdc_tui.cli.job import serve_job
from acdc_tui.core.errors import UserError
from acdc_tui.runs.journal.writer import JournalWriter
from acdc_tui.runs.outputs import OutputLocks, check_distinct, task_inputs


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("resume", help="continue a stopped or crashed run from its journal (no edge is evaluated twice)")
    p.add_argument("journal", help="the run's journal")
    add_continue_options(p, "the run's own")
    return p


def add_continue_options(p: argparse.ArgumentParser, whose: str) -> None:
    """Options of a run that continues a journal (resume, branch): outputs and engine default to `whose`."""
    options.OUT.add(p, help=f"circuit JSON (default: {whose} --out)")
    options.LOG.add(p, help=f"append the log here (default: {whose} --log)")
    options.DOT.add(p, help=f"also write DOT (default: {whose} --dot)")
    options.ENGINE.add(p, default=None, help=f"fast or plain (default: {whose}; both make the same decisions)")
    options.DEVICE.add(p, default=None, help=f"cpu or cuda (default: {whose})")
    options.QUIET.add(p, help="no log on stdout")
    options.PAUSED.add(p, help="start paused, waiting for commands (what the explorer does)")


def run(args: argparse.Namespace) -> int:
    from acdc_tui.runs.journal.lock import Lock, holder
    from acdc_tui.runs.journal.reader import JournalReader

    journal = Path(args.journal)
    JournalReader(journal, readonly=True).close()  # a journal at all, before a lock file is made beside it
    # The claim is atomic: the journal's lock is taken before anything else, so of two resumes
    # started together one holds it and the other is refused here (not after the model loads).
    claim = Lock.acquire(journal, {"journal": str(journal)})
    if claim is None:
        raise UserError(f"journal {journal} belongs to a run that is still going (pid {holder(journal).get('pid', '?')}): attach to it with `acdc-tui attach {journal}`")
    try:
        return _resume_claimed(args, journal, claim)
    finally:
        claim.release()


def _resume_claimed(args: argparse.Namespace, journal: Path, claim) -> int:
    from acdc_tui.runs.resume import open_resume

    job = open_resume(journal, args.engine, args.device, claimed=True)
    if job.finished:
        print(f"acdc-tui: nothing to resume: the run in {journal} finished; write its circuit with `acdc-tui export {journal} --out FILE`", file=sys.stderr)
        return 0
    files = job.recipe.outputs
    out = _path(args.out, "--out") or Path(files.out or "circuit.json")
    log = _path(args.log, "--log") if args.log is not None else _path(files.log)
    dot = _path(args.dot, "--dot") if args.dot is not None else _path(files.dot)
    outputs = [("--out", out), ("--log", log), ("--dot", dot)]
    recipe = job.recipe
    check_distinct(outputs, task_inputs(recipe.task_dir, recipe.model, journal, recipe.prompts))
    locks = OutputLocks([(flag, path) for flag, path in outputs if path is not None], journal)
    try:
        if job.warning:
            print(f"acdc-tui: warning: {job.warning}", file=sys.stderr)
        writer = JournalWriter.open(journal, lock=claim)
        if job.superseded_pos is not None:
            writer.supersede(job.superseded_pos)
        run = job.exp.run
        print(f"acdc-tui: resuming {journal}: {len(job.events)} events replayed without evaluating ({run.done}/{run.total} edges decided); continuing after event {job.last_seq}", file=sys.stderr)
        header = f"resumed, journal {journal}, after event {job.last_seq}"
        fmt = files.format or "json" if args.out is None else "json"
        return serve_job(job.exp, writer, out=out, dot=dot, log=log, quiet=args.quiet, autorun=not args.paused, header=header, events=job.events, resumed_at=job.last_pos, fmt=fmt)
    finally:
        locks.release()
