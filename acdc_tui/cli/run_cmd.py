"""`acdc-tui run` and `acdc-tui resume`: a run process with its journal, headless sinks and signals."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from acdc_tui.cli import signals
from acdc_tui.cli.headless import HeadlessSink
from acdc_tui.core.errors import UserError
from acdc_tui.core.events import Event
from acdc_tui.runs.journal.schema import SUFFIX, CommandKind, CommandStatus
from acdc_tui.runs.journal.writer import JournalWriter
from acdc_tui.runs.outputs import OutputLocks, Outputs, check_distinct, task_inputs


def add_job_options(p: argparse.ArgumentParser) -> None:
    """Options of the run process itself (run and resume)."""
    p.add_argument("--journal", metavar="FILE", default=None, help=f"the run's journal (default: a new file in acdc-output/runs/, named after task, τ and time, *{SUFFIX})")
    p.add_argument("--paused", action="store_true", help="start paused and wait for commands through the journal (what the explorer does)")


def task_label(args: argparse.Namespace) -> str:
    import tasks

    return Path(args.task_dir).resolve().name if args.task_dir else (args.task or tasks.DEFAULT_TASK)


def cmd_run(args: argparse.Namespace) -> int:
    import tasks
    from acdc_tui.cli.main import settings_from_args
    from acdc_tui.models.backend import check_device, parse_dtype
    from acdc_tui.runs.experiment import prepare
    from acdc_tui.runs.identity import Recipe, journal_meta
    from acdc_tui.runs.paths import new_journal_path

    dtype = parse_dtype(args.dtype)
    check_device(args.device)
    out = _path(args.out, "--out") or Path("circuit.json")
    log, dot = _path(args.log, "--log"), _path(args.dot, "--dot")
    journal = _path(args.journal, "--journal")
    if journal is not None and journal.exists():
        raise UserError(f"journal {journal} already exists: resume it with `acdc-tui resume {journal}`, or choose another --journal")
    outputs = [("--out", out), ("--log", log), ("--dot", dot), ("--journal", journal)]
    check_distinct(outputs, task_inputs(args.task_dir, args.model, prompts=args.prompts))
    locks = OutputLocks([(flag, path) for flag, path in outputs[:3] if path is not None], journal)
    try:
        task = tasks.load_task(args.task, args.task_dir, args.device, dtype, model_path=args.model, prompts=args.prompts, bos=args.bos)
        exp = prepare(task, settings_from_args(args))
        journal = journal or new_journal_path(task_label(args), args.threshold)
        recipe = Recipe.of(args.task, args.task_dir, args.model, args.device, args.dtype, args.prompts, args.bos)
        # absolute: `resume` from another folder writes the run's own files, never another project's
        files = {"out": os.path.abspath(out), "log": None if log is None else os.path.abspath(log), "dot": None if dot is None else os.path.abspath(dot), "format": getattr(args, "format", "json")}
        writer = JournalWriter.create(journal, journal_meta(exp, recipe, outputs=files))
        for action, edges in ((CommandKind.PIN, exp.settings.pins), (CommandKind.FORCE_PRUNE, exp.settings.force_prunes)):
            for text in edges:  # queued in the run already: recorded as commands from the command line
                writer.record_command(action, text, "cli", 1, CommandStatus.DONE)
        return serve_job(exp, writer, out=out, dot=dot, log=log, quiet=args.quiet, autorun=not args.paused, header=f"run, journal {journal}", fmt=getattr(args, "format", "json"))
    finally:
        locks.release()


def serve_job(
    exp,
    writer: JournalWriter,
    *,
    out: Path | None,
    dot: Path | None,
    log: Path | None,
    quiet: bool,
    autorun: bool,
    header: str,
    events: list[Event] | None = None,
    resumed_at: int | None = None,
    fmt: str = "json",
) -> int:
    """Run the loop to its end with the headless sinks; the exit status follows how it ended."""
    from acdc_tui.runs.process import Mode, RunLoop, StepError

    previous_handlers = signals.install()
    journal = writer.path
    writer.start_session(exp.settings.engine, resumed_at)
    writer.add_run(1, exp.settings.threshold)
    sink = HeadlessSink(exp.run, log, quiet, header)
    loop = RunLoop(exp, writer, events=events or (), sinks=[sink], autorun=autorun, outputs=Outputs(out, dot, fmt))
    status, exit_note, message = 0, "finished", None
    if not autorun:  # nobody may be watching: say what it waits for, and how to stop it
        print(f"acdc-tui: paused, waiting for an explorer: run `acdc-tui attach {journal}` (in a terminal, or `acdc-tui serve {journal}`); stop it with `kill {os.getpid()}` (its decisions so far stay in the journal)", file=sys.stderr, flush=True)
    try:
        mode = loop.serve()
        if mode is Mode.STOPPED:
            status, exit_note = 1, "stopped (command)"
            message = f"stopped by a command: the edges decided so far are saved in {out} (\"complete\": false); resume with: acdc-tui resume {journal}"
    except KeyboardInterrupt as e:
        status, exit_note = signals.exit_status(e), f"stopped ({signals.name(e)})"
        message = f"interrupted ({signals.name(e)}): the edges decided so far are saved in {out} (\"complete\": false); resume with: acdc-tui resume {journal}"
    except StepError as e:
        status, exit_note = 3, f"failed: {e}"
        message = f"error: {e}: the edges decided so far are saved in {out} (\"complete\": false); resume with: acdc-tui resume {journal}"
    except UserError as e:
        exit_note = f"failed: {e}"
        raise
    finally:
        sink.close()
        writer.end_session(exit_note)
        writer.close()
        signals.restore(previous_handlers)
    circuit = getattr(loop, "circuit", None)
    if circuit is not None:
        sys.stdout.write(sink.summary(circuit, loop.run, exp.metric_name, out) + "\n")
        sys.stdout.flush()
    if message:
        print(f"acdc-tui: {message}", file=sys.stderr)
    return status


def cmd_resume(args: argparse.Namespace) -> int:
    from acdc_tui.runs.resume import open_resume

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
    files = job.meta.get("outputs", {})
    out = _path(args.out, "--out") or Path(files.get("out") or "circuit.json")
    log = _path(args.log, "--log") if args.log is not None else _path(files.get("log"))
    dot = _path(args.dot, "--dot") if args.dot is not None else _path(files.get("dot"))
    outputs = [("--out", out), ("--log", log), ("--dot", dot)]
    recipe = job.meta["recipe"]
    check_distinct(outputs, task_inputs(recipe.get("task_dir"), recipe.get("model_path"), journal, recipe.get("prompts")))
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
        fmt = files.get("format") or "json" if args.out is None else "json"
        return serve_job(job.exp, writer, out=out, dot=dot, log=log, quiet=args.quiet, autorun=not args.paused, header=header, events=job.events, resumed_at=job.last_pos, fmt=fmt)
    finally:
        locks.release()


def cmd_branch(args: argparse.Namespace) -> int:
    """A new run that starts as the given journal's run at event N, with a new τ, pins or force-prunes."""
    from acdc_tui.runs.branch import create_branch

    path = create_branch(args.journal, args.step, args.threshold, tuple(args.pin), tuple(args.force_prune), _path(args.branch_journal, "--journal"))
    print(f"acdc-tui: branch of {args.journal} at event {args.step}: journal {path}", file=sys.stderr)
    args.journal, args.engine, args.device = str(path), getattr(args, "engine", None), getattr(args, "device", None)
    return cmd_resume(args)


def add_branch_parser(sub) -> None:
    from acdc_tui.cli.main import _threshold

    p = sub.add_parser("branch", help="continue a run from a past event with another τ, pins or force-prunes (a new journal; the prefix is replayed, not re-evaluated)")
    p.add_argument("journal", help="the parent run's journal")
    p.add_argument("--step", type=int, required=True, metavar="N", help="branch right after event N")
    p.add_argument("--threshold", "-t", type=_threshold, default=None, help="τ from the branch point on (default: the parent's)")
    p.add_argument("--pin", action="append", default=[], metavar="EDGE", help="pin this edge at the branch point (repeatable)")
    p.add_argument("--force-prune", action="append", default=[], metavar="EDGE", help="force-prune this edge at the branch point (repeatable)")
    p.add_argument("--journal", dest="branch_journal", default=None, metavar="FILE", help="the branch's journal (default: a new file in acdc-output/runs/)")
    _add_continue_options(p, "the parent's")


def add_resume_parser(sub) -> None:
    p = sub.add_parser("resume", help="continue a stopped or crashed run from its journal (no edge is evaluated twice)")
    p.add_argument("journal", help="the run's journal")
    _add_continue_options(p, "the run's own")


def _add_continue_options(p: argparse.ArgumentParser, whose: str) -> None:
    """Options of a run that continues a journal (resume, branch): outputs and engine default to `whose`."""
    p.add_argument("--out", "-o", default=None, help=f"circuit JSON (default: {whose} --out)")
    p.add_argument("--log", default=None, help=f"append the log here (default: {whose} --log)")
    p.add_argument("--dot", default=None, help=f"also write DOT (default: {whose} --dot)")
    p.add_argument("--engine", default=None, help=f"fast or plain (default: {whose}; both make the same decisions)")
    p.add_argument("--device", default=None, help=f"cpu or cuda (default: {whose})")
    p.add_argument("--quiet", "-q", action="store_true", help="no log on stdout")
    p.add_argument("--paused", action="store_true", help="start paused, waiting for commands (what the explorer does)")


def _path(value: str | None, flag: str = "path") -> Path | None:
    if value is not None and not value.strip():
        raise UserError(f"{flag} is empty: give a file name")
    if value is not None and value.endswith(("/", os.sep)) and not Path(value).is_dir():
        raise UserError(f"{flag} {value} names a folder: give a file name to write (e.g. {value.rstrip('/')}/circuit.json)")
    return None if value is None else Path(value)
