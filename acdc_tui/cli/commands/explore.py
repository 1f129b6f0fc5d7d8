"""The explorer: `acdc-tui [run options]` starts a run process with the recipe the options make and
attaches to it. The run outlives the terminal. Without a terminal (or with --headless) it runs headless."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from acdc_tui.cli import options
from acdc_tui.cli.job import interactive, path, scores_path
from acdc_tui.core.errors import UserError

USAGE = "acdc-tui [--task NAME | --task-dir DIR] [--threshold T] [run options] | acdc-tui COMMAND ..."


def build_parser() -> argparse.ArgumentParser:
    """`acdc-tui [run options]`: the explorer on a task (the same options as `run`)."""
    from acdc_tui.cli.commands.run import add_job_options

    p = options.OneLineParser(prog="acdc-tui", usage=USAGE, description="Open the ACDC explorer on a task. The run starts paused: space runs, n steps, F1 lists the keys.")
    options.add_run_options(p, overrides("where Export (e) writes the circuit JSON (default: beside the run's journal, named after the run)"))
    options.add_explorer_options(p)
    add_job_options(p)
    return p


def overrides(out_help: str | None = None) -> dict:
    """The run options as the explorer and `serve` take them: τ is optional (and --out, given its help)."""
    t = options.DEFAULT_THRESHOLD
    changed = {options.THRESHOLD: {"default": t, "help": f"τ: an edge is removed if the metric rises by less than this (default {t})"}}
    return changed if out_help is None else {**changed, options.OUT: {"help": out_help}}


def start_run(recipe, journal: Path, paused: bool):
    """Start the run process for `recipe`, writing `journal` (its circuit JSON beside it); returns the
    process and its output file. The recipe travels as a file the process reads and removes."""
    from acdc_tui.runs.launch import Launch, spawn
    from acdc_tui.runs.paths import sidecar

    recipe = recipe.with_outputs(out=str(sidecar(journal, ".json")))
    recipe_file = sidecar(journal, ".recipe.json")
    recipe.write(recipe_file)
    return spawn(Launch.run(recipe_file, journal, paused))


def run(args: argparse.Namespace) -> int:
    """The explorer on a task; headless (same outputs as `run`) with --headless or without a terminal."""
    import tasks
    from acdc_tui.cli.commands import run as run_command

    # Cheap checks first: a typo should not wait for the model to load, nor open a window.
    from acdc_tui.runs.outputs import check_writable
    from acdc_tui.runs.paths import new_journal_path, output_dir

    recipe = options.recipe_from_args(args)
    options.check_task_source(recipe)
    if args.headless or not interactive():
        if args.out is None:
            output_dir().mkdir(parents=True, exist_ok=True)
            args.out = str(output_dir() / "circuit.json")
        check_writable(args.out, "--out")
        if not args.headless:
            print("acdc-tui: not a terminal: running headless (acdc-tui run ... does this explicitly)", file=sys.stderr)
        return run_command.run_recipe(recipe.with_outputs(out=args.out), path(args.journal, "--journal"), paused=args.paused, quiet=args.quiet)
    check_writable(args.out, "--out")  # None: exports go beside the run's journal, named after it
    from acdc_tui.models.backend import check_device, parse_dtype
    from acdc_tui.runs.client import RunClient

    parse_dtype(recipe.dtype)
    check_device(recipe.device)
    journal = Path(args.journal) if args.journal else new_journal_path(options.task_label(recipe), recipe.tau)
    if journal.exists():
        raise UserError(f"journal {journal} already exists: attach to it with `acdc-tui attach {journal}`, or choose another --journal")
    process, output = start_run(recipe, journal, paused=not args.run)
    client = RunClient(journal, process, output)
    return explore(client, args, description=args.task_dir or args.task or tasks.DEFAULT_TASK)


def explore(client, args: argparse.Namespace, description: str) -> int:
    from acdc_tui.ui.app import ExplorerApp

    scores = scores_path(getattr(args, "scores", None))
    app = ExplorerApp(client=client, out=Path(args.out) if args.out else None, description=description, ascii_only=True if args.ascii else None, autorun=False, scores=scores)
    try:
        app.run()
    finally:
        client.close()
    if app.left_running:
        print(left_behind(client.journal, str(app.left_running)), file=sys.stderr)
    return 1 if app.load_error else 0


def left_behind(journal: Path, mode: str) -> str:
    """What the user reads after leaving a run in the background: its state, and how to reach or stop it."""
    from acdc_tui.runs.journal.view import summarize

    try:
        pid = summarize(journal).pid
    except UserError:
        pid = None
    holds = f" (pid {pid}, holding its model in memory)" if pid else ""
    how = f"reattach with `acdc-tui attach {journal}`; stop it there with q then x{f', or with `kill {pid}`' if pid else ''}; `acdc-tui ps` lists the runs"
    if mode == "paused":
        return f"acdc-tui: the run stays paused in the background{holds}: {how} (space continues it)"
    return f"acdc-tui: the run goes on in the background{holds}: {how}"
