"""`acdc-tui sweep`: ACDC over many thresholds with one engine, ROC and AUC against the task's ground
truth. `--ray` and `--top-k` are in sweep_more.py; the sequential sweep over τ is here."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from acdc_tui.cli import options
from acdc_tui.cli.bounds import bounded_int
from acdc_tui.cli.commands import sweep_more
from acdc_tui.core.errors import UserError

NOT_FOR_SWEEP = {"threshold": "--threshold (give --thresholds or --logspace)", "log": "--log", "dot": "--dot"}


def register(subparsers) -> argparse.ArgumentParser:
    """The options of `run` (the same declarations), a τ grid instead of --threshold."""
    from acdc_tui.engines.attribution_method import DEFAULT_STEPS

    sweep = subparsers.add_parser("sweep", help="run ACDC over many thresholds; ROC and AUC against the task's ground truth")
    hidden = {"help": argparse.SUPPRESS}  # refused in one line by run() below
    options.add_run_options(sweep, {
        options.THRESHOLD: hidden, options.LOG: hidden, options.DOT: hidden,
        options.OUT: {"help": "sweep JSON to write (default sweep.json)"},
        options.HEADLESS: {"help": "accepted for symmetry with run: a sweep is always headless"},
        options.QUIET: {"help": "no progress on stderr (table, plots and summary only)"},
    })
    grid = sweep.add_mutually_exclusive_group(required=True)
    options.THRESHOLDS.add(grid)
    options.LOGSPACE.add(grid)
    sweep.add_argument("--with-edges", action="store_true", help="also store each run's kept edges in the JSON")
    options.JOURNAL.add(sweep, help="the sweep's journal, every point's events as run 1..N (default: a new file in acdc-output/runs/); with --ray a folder, one journal per point")
    options.ASCII.add(sweep, help="plots in plain ASCII (default: Unicode when the terminal can show it)")
    grid.add_argument("--top-k", metavar="METHOD", default=None, help="instead of ACDC over τ: the top-k circuits of attribution (eap or eap-ig) at MIB's edge fractions")
    sweep.add_argument("--steps", type=bounded_int("--steps", 0, 10_000, DEFAULT_STEPS), default=DEFAULT_STEPS, help=f"with --top-k eap-ig: interpolation steps (default {DEFAULT_STEPS})")
    options.FRACTIONS.add(sweep)
    sweep.add_argument("--ray", nargs="?", const=sweep_more.LOCAL, default=None, metavar="ADDRESS", help="run the points as Ray tasks: no ADDRESS starts a local Ray, `auto` joins this machine's cluster, or HOST:PORT / ray://HOST:PORT (needs pip install 'acdc-tui[ray]')")
    sweep.add_argument("--ray-cpus", type=bounded_int("--ray-cpus", 1, 100_000, 4), default=None, metavar="N", help="with --ray and no address: CPUs of the local Ray (default: all)")
    return sweep


def refuse_run_only_options(args: argparse.Namespace) -> None:
    given = [flag for dest, flag in NOT_FOR_SWEEP.items() if getattr(args, dest, None) not in (None, False)]
    if given:
        raise UserError(f"sweep does not take {given[0]}")


def run(args: argparse.Namespace) -> int:
    import tasks
    from acdc_tui.analysis.sweep import parse_logspace, parse_thresholds, run_sweep
    from acdc_tui.models.backend import check_device, parse_dtype
    from acdc_tui.runs.experiment import prepare

    refuse_run_only_options(args)
    if sweep_more.wants(args):  # --ray or --top-k
        return sweep_more.run(args)
    thresholds = parse_thresholds(args.thresholds) if args.thresholds is not None else parse_logspace(args.logspace)
    recipe = options.recipe_from_args(args)
    dtype = parse_dtype(recipe.dtype)
    check_device(recipe.device)
    from acdc_tui.cli import signals
    from acdc_tui.runs.identity import journal_meta
    from acdc_tui.runs.journal.writer import JournalWriter
    from acdc_tui.runs.outputs import OutputLocks, check_distinct, task_inputs
    from acdc_tui.runs.paths import new_journal_path

    if args.out == "" or args.journal == "":
        raise UserError(f"{'--out' if args.out == '' else '--journal'} is empty: give a file name")
    out = Path(args.out) if args.out else Path("sweep.json")
    journal = Path(args.journal) if args.journal else None
    check_distinct([("--out", out), ("--journal", journal)], task_inputs(recipe.task_dir, recipe.model, prompts=recipe.prompts))
    if journal is not None and journal.exists():
        raise UserError(f"journal {journal} already exists: choose another --journal")
    locks = OutputLocks([("--out", out)], journal)
    try:
        task = tasks.load_task(recipe.task, recipe.task_dir, recipe.device, dtype, model_path=recipe.model, prompts=recipe.prompts, bos=recipe.bos)
        if task.ground_truth is None:
            print(f"acdc-tui: note: task {task.name} has no ground-truth circuit: the sweep runs, but without ROC curve or AUC", file=sys.stderr)
        recipe = recipe.replace(tau=thresholds[0]).with_outputs(out=str(out))
        exp = prepare(task, recipe.settings())
        journal = journal or new_journal_path(f"{options.task_label(recipe)}-sweep", None)
        writer = JournalWriter.create(journal, {**journal_meta(exp, recipe, kind="sweep", outputs={"out": str(out)}), "thresholds": thresholds})
        writer.start_session(exp.settings.engine)
        previous, result = signals.install(), None
        try:
            result = run_sweep(exp, thresholds, quiet=args.quiet, journal=writer)
        finally:
            signals.restore(previous)
            writer.end_session("finished" if result is not None and result.complete else "stopped")
            writer.close()
        return sweep_more.finish(result, args, out, f"{len(result.points)} thresholds", f"every point's decisions are in the journal {journal}")
    finally:
        locks.release()
