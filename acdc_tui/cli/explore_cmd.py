"""The explorer: `acdc-tui [run options]` starts a run process and attaches to it; `acdc-tui attach`
reattaches to a running run or opens a finished or dead one. The run outlives the terminal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from acdc_tui.core.errors import UserError

# run options forwarded to the run process as they were given
_VALUE_OPTIONS = ("task", "task_dir", "model", "prompts", "bos", "metric", "engine", "device", "dtype", "log", "dot", "prefilter")
_FLAG_OPTIONS = ("zero_ablation", "mean_ablation", "abs_value_threshold", "tree_shaking")


def run_argv(args: argparse.Namespace, journal: Path, out: Path) -> list[str]:
    """`acdc-tui run ...` for the explorer's run process: the user's run options, paused unless --run."""
    argv = ["run", "--journal", str(journal), "--out", str(out), "--threshold", repr(args.threshold), "--quiet"]
    for name in _VALUE_OPTIONS:
        value = getattr(args, name, None)
        if value is not None:
            argv += [f"--{name.replace('_', '-')}", str(value)]
    argv += [f"--{name.replace('_', '-')}" for name in _FLAG_OPTIONS if getattr(args, name, False)]
    for edge in args.pin:
        argv += ["--pin", edge]
    for edge in args.force_prune:
        argv += ["--force-prune", edge]
    if not args.run:
        argv.append("--paused")
    return argv


def cmd_explore(args: argparse.Namespace, interactive: bool) -> int:
    """The explorer on a task; headless (same outputs as `run`) with --headless or without a terminal."""
    import tasks
    from acdc_tui.cli import run_cmd

    # Cheap checks first: a typo should not wait for the model to load, nor open a window.
    from acdc_tui.cli.main import check_task_source
    from acdc_tui.runs.outputs import check_writable
    from acdc_tui.runs.paths import new_journal_path, output_dir, sidecar

    check_task_source(args)
    if args.headless or not interactive:
        if args.out is None:
            output_dir().mkdir(parents=True, exist_ok=True)
            args.out = str(output_dir() / "circuit.json")
        check_writable(args.out, "--out")
        if not args.headless:
            print("acdc-tui: not a terminal: running headless (acdc-tui run ... does this explicitly)", file=sys.stderr)
        return run_cmd.cmd_run(args)
    check_writable(args.out, "--out")  # None: exports go beside the run's journal, named after it
    from acdc_tui.models.backend import check_device, parse_dtype
    from acdc_tui.runs.client import RunClient
    from acdc_tui.runs.launch import spawn

    parse_dtype(args.dtype)
    check_device(args.device)
    journal = Path(args.journal) if args.journal else new_journal_path(run_cmd.task_label(args), args.threshold)
    if journal.exists():
        raise UserError(f"journal {journal} already exists: attach to it with `acdc-tui attach {journal}`, or choose another --journal")
    process, output = spawn(run_argv(args, journal, sidecar(journal, ".json")), journal)
    client = RunClient(journal, process, output)
    return _explore(client, args, description=args.task_dir or args.task or tasks.DEFAULT_TASK)


def cmd_attach(args: argparse.Namespace) -> int:
    from acdc_tui.runs.client import RunClient
    from acdc_tui.cli.main import _interactive
    from acdc_tui.runs.paths import journals, runs_dir

    if not _interactive():
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
    return _explore(RunClient(journal), args, description=str(journal))


def _explore(client, args: argparse.Namespace, description: str) -> int:
    from acdc_tui.cli.main import _scores_path
    from acdc_tui.ui.app import ExplorerApp

    scores = _scores_path(args)
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


def live_runs(found: list[Path]) -> list[tuple[Path, float, str]]:
    """The journals a live run process holds: (journal, when it was last active, a line for a chooser), most recent first."""
    from acdc_tui.runs.journal.reader import JournalReader
    from acdc_tui.runs.journal.view import summarize

    live = []
    for path in found:
        try:
            s = summarize(path)
            if s.state.value not in ("loading", "running", "paused", "stepping"):  # only while a process holds it
                continue
            reader = JournalReader(path)
            try:
                updated = float(reader.status().get("updated") or path.stat().st_mtime)
            finally:
                reader.close()
        except (UserError, OSError, ValueError):
            continue
        tau = "" if s.threshold is None else f" τ {s.threshold:g}"
        live.append((path, updated, f"{s.state.value:<8} {s.task}{tau}  {s.done}/{s.total}  {path.name}"))
    return sorted(live, key=lambda t: -t[1])


def pick_journal(found: list[Path]) -> Path | None:
    """`attach` without a journal: the live run most recently active; a chooser when several are live;
    the newest journal when none is (it opens finished or dead). None: the user chose none."""
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


def add_attach_parser(sub) -> None:
    p = sub.add_parser("attach", help="reattach the explorer to a running run, or open a finished or dead one (default: the live run most recently active)")
    p.add_argument("journal", nargs="?", default=None, help="the run's journal (default: the live run most recently active in acdc-output/runs/, a chooser when several are live, else the newest journal)")
    p.add_argument("--out", "-o", default=None, help="where Export (e) writes (default: beside the journal, named after the run)")
    p.add_argument("--ascii", action="store_true", help="draw with ASCII only")
    from acdc_tui.cli.main import _add_scores_option

    _add_scores_option(p)
