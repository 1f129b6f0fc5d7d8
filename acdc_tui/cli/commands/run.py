"""`acdc-tui run`: a run process with its journal, headless sinks and signals. Given `--recipe FILE` (how
the explorer and `serve` start it), the run is the recipe's; else the run options make the recipe."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from acdc_tui.cli import options
from acdc_tui.cli.job import path as _path
from acdc_tui.cli.job import serve_job
from acdc_tui.core.errors import UserError
from acdc_tui.runs.journal.schema import CommandKind, CommandStatus
from acdc_tui.runs.outputs import OutputLocks, check_distinct, task_inputs


def add_job_options(p: argparse.ArgumentParser) -> None:
    """Options of the run process itself (run and the explorer)."""
    options.JOURNAL.add(p)
    options.PAUSED.add(p)


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("run", help="run ACDC (headless) and export the circuit")
    options.add_task_source(p)
    source = p.add_mutually_exclusive_group(required=True)  # the threshold, or a whole recipe
    for option in options.RUN_OPTIONS:
        option.add(source if option is options.THRESHOLD else p)
    options.FORMAT.add(p)
    add_job_options(p)
    options.RECIPE.add(source)
    return p


def run(args: argparse.Namespace) -> int:
    if getattr(args, "recipe", None):
        from acdc_tui.runs.recipe import RunRecipe

        recipe_file = Path(args.recipe)
        recipe = RunRecipe.read(recipe_file)
        recipe_file.unlink(missing_ok=True)  # written for this process alone
    else:
        recipe = options.recipe_from_args(args)
    return run_recipe(recipe, _path(args.journal, "--journal"), paused=args.paused, quiet=args.quiet)


def run_recipe(recipe, journal: Path | None, *, paused: bool, quiet: bool) -> int:
    """Run `recipe` to its end (or until stopped), writing its journal and outputs."""
    import tasks
    from acdc_tui.models.backend import check_device, parse_dtype
    from acdc_tui.runs.experiment import prepare
    from acdc_tui.runs.identity import journal_meta
    from acdc_tui.runs.journal.writer import JournalWriter
    from acdc_tui.runs.paths import new_journal_path

    dtype = parse_dtype(recipe.dtype)
    check_device(recipe.device)
    files = recipe.outputs
    out = _path(files.out, "--out") or Path("circuit.json")
    log, dot = _path(files.log, "--log"), _path(files.dot, "--dot")
    if journal is not None and journal.exists():
        raise UserError(f"journal {journal} already exists: resume it with `acdc-tui resume {journal}`, or choose another --journal")
    outputs = [("--out", out), ("--log", log), ("--dot", dot), ("--journal", journal)]
    check_distinct(outputs, task_inputs(recipe.task_dir, recipe.model, prompts=recipe.prompts))
    locks = OutputLocks([(flag, path) for flag, path in outputs[:3] if path is not None], journal)
    try:
        task = tasks.load_task(recipe.task, recipe.task_dir, recipe.device, dtype, model_path=recipe.model, prompts=recipe.prompts, bos=recipe.bos)
        exp = prepare(task, recipe.settings())
        journal = journal or new_journal_path(options.task_label(recipe), recipe.tau)
        # absolute: `resume` from another folder reads the run's own inputs and writes its own files, never another project's
        absolute = lambda p: None if p is None else os.path.abspath(p)  # noqa: E731
        recipe = recipe.replace(task_dir=absolute(recipe.task_dir), model=absolute(recipe.model), prompts=absolute(recipe.prompts))
        recipe = recipe.with_outputs(out=absolute(out), log=absolute(log), dot=absolute(dot))
        writer = JournalWriter.create(journal, journal_meta(exp, recipe))
        for action, edges in ((CommandKind.PIN, exp.settings.pins), (CommandKind.FORCE_PRUNE, exp.settings.force_prunes)):
            for text in edges:  # queued in the run already: recorded as commands from the command line
                writer.record_command(action, text, "cli", 1, CommandStatus.DONE)
        return serve_job(exp, writer, out=out, dot=dot, log=log, quiet=quiet, autorun=not paused, header=f"run, journal {journal}", fmt=files.format)
    finally:
        locks.release()
