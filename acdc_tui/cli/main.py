"""Command line: `acdc-tui run ...` (headless), `acdc-tui tasks`, `acdc-tui dot`.

Every user error ends in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sqlite3
import sys
from pathlib import Path

from acdc_tui.cli import attribute_cmd, diff_cmd, explore_cmd, journal_cmd, plan_cmd, run_cmd, serve_cmd, sweep_cmd
from acdc_tui.cli.circuit_file_options import add_format_option, add_pins_from_option, pins_from
from acdc_tui.core.errors import UserError

DEFAULT_OUT_DIR = Path("acdc-output")
DEFAULT_THRESHOLD = 0.01  # for the embedded default task (tracr-reverse, L2)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is a single line naming the fix."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold {text!r} is not a number, e.g. --threshold 0.01") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"threshold {text!r} is not a finite number: give a number such as 0.01")
    return value


def _add_run_options(p: argparse.ArgumentParser, threshold_required: bool = True) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--task", help="builtin task name (default tracr-reverse; see `acdc-tui tasks`)")
    src.add_argument("--task-dir", help="directory with config.json, weights.pt, tokens.pt; or a Hugging Face checkpoint with its tokenizer files and prompts.jsonl")
    p.add_argument("--model", metavar="PATH", help=f"replace the task's model by a local Hugging Face checkpoint directory, read offline (model types: {', '.join(_model_types())})")
    p.add_argument("--prompts", metavar="FILE", help="text prompts (JSONL: clean, corrupted, optional answer, wrong), tokenized by the tokenizer of --model DIR or --task-dir DIR")
    p.add_argument("--bos", choices=("auto", "on", "off"), default=None, help="text prompts: start each with the tokenizer's BOS as the tokenizer does (auto, the default), always (on) or never (off)")
    p.add_argument("--threshold", "-t", type=_threshold, required=threshold_required, default=None if threshold_required else DEFAULT_THRESHOLD, help="τ: an edge is removed if the metric rises by less than this" + ("" if threshold_required else f" (default {DEFAULT_THRESHOLD})"))
    p.add_argument("--metric", help="metric name (default: the task's): kl, and with answers logit_diff, prob_diff, nll (lower is better; see docs/your-own-experiment.md)")
    p.add_argument("--zero-ablation", action="store_true", help="ablate to zero instead of the patch (corrupted) data")
    p.add_argument("--mean-ablation", action="store_true", help="ablate to each sender's output averaged over the patch data, per position")
    p.add_argument("--prefilter", metavar="METHOD:FRACTION", default=None, help="remove the FRACTION of tested edges with the lowest attribution (eap or eap-ig) untested first; not the reference algorithm")
    p.add_argument("--abs-value-threshold", action="store_true", help="compare |Δ| with the threshold")
    p.add_argument("--tree-shaking", action="store_true", help="finally remove nodes not on an input-to-output path")
    p.add_argument("--pin", action="append", default=[], metavar="EDGE", help="never remove SENDER->RECEIVER (tested, logged, kept); repeatable")
    p.add_argument("--force-prune", action="append", default=[], metavar="EDGE", help="remove SENDER->RECEIVER without a threshold test; repeatable")
    add_pins_from_option(p)
    p.add_argument("--engine", default="fast", help="evaluation engine: fast (default) or plain")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", default="float32", help="float32 (default) or float64")
    p.add_argument("--out", "-o", default=None, help="circuit JSON to write (default circuit.json)")
    p.add_argument("--log", default=None, help="also write the reference-format log here")
    p.add_argument("--dot", default=None, help="also write the circuit as Graphviz DOT")
    p.add_argument("--quiet", "-q", action="store_true", help="no log on stdout (progress and summary only)")
    p.add_argument("--headless", action="store_true", help="no UI: log, progress and JSON only")


def _model_types() -> list[str]:
    from acdc_tui.core.architecture.families import supported_model_types

    return supported_model_types()


EXPLORER_USAGE = "acdc-tui [--task NAME | --task-dir DIR] [--threshold T] [run options] | acdc-tui COMMAND ..."


def build_explorer_parser() -> argparse.ArgumentParser:
    """`acdc-tui [run options]`: the explorer on a task (the same options as `run`)."""
    p = OneLineParser(prog="acdc-tui", usage=EXPLORER_USAGE, description="Open the ACDC explorer on a task. The run starts paused: space runs, n steps, F1 lists the keys.")
    _add_run_options(p, threshold_required=False)
    for action in p._actions:
        if action.dest == "out":
            action.help = "where Export (e) writes the circuit JSON (default: beside the run's journal, named after the run)"
    _add_explorer_options(p)
    run_cmd.add_job_options(p)
    return p


def _add_scores_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scores", metavar="FILE", default=None, help="attribution scores (acdc-tui attribute --out) to show beside Δ in the Edges tab, marking where they disagree with ACDC")


def _add_explorer_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ascii", action="store_true", help="draw with ASCII only (default: Unicode when the terminal encoding is UTF-8)")
    p.add_argument("--run", action="store_true", help="start running at once instead of paused")
    _add_scores_option(p)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="acdc-tui",
        usage=EXPLORER_USAGE,
        description="Automatic Circuit DisCovery (ACDC) for TransformerLens models. With no command, or with run options only, opens the explorer (a terminal UI) on the task; `acdc-tui --help-explorer` lists its options.",
    )
    sub = parser.add_subparsers(dest="command", parser_class=OneLineParser, prog="acdc-tui")  # `acdc-tui run [-h] ...`, not the explorer's usage
    browse = sub.add_parser("open", help="browse a circuit file (acdc-tui JSON, EAP-IG JSON, reference .pth) or a journal (JOURNAL@STEP: as it stood then) in the explorer; no model needed")
    browse.add_argument("circuit")
    browse.add_argument("--ascii", action="store_true", help="draw with ASCII only")
    _add_scores_option(browse)
    run = sub.add_parser("run", help="run ACDC (headless) and export the circuit")
    _add_run_options(run)
    add_format_option(run)
    run_cmd.add_job_options(run)
    run_cmd.add_resume_parser(sub)
    run_cmd.add_branch_parser(sub)
    journal_cmd.add_parsers(sub)
    explore_cmd.add_attach_parser(sub)
    _add_sweep_parser(sub)
    attribute_cmd.add_parser(sub)
    plan_cmd.add_parser(sub, _add_run_options)
    sub.add_parser("tasks", help="list the builtin tasks")
    dot = sub.add_parser("dot", help="convert a circuit JSON file to Graphviz DOT")
    dot.add_argument("circuit")
    dot.add_argument("--out", "-o", default=None, help="write here instead of stdout")
    dot.add_argument("--include-removed", action="store_true")
    diff_cmd.add_parser(sub)
    serve_cmd.add_parser(sub)
    return parser


def settings_from_args(args: argparse.Namespace, threshold: float | None = None):
    """The run options shared by `run`, `sweep` and the explorer, as Settings."""
    from acdc_tui.runs.experiment import Settings

    return Settings(
        threshold=args.threshold if threshold is None else threshold,
        metric=args.metric,
        zero_ablation=args.zero_ablation,
        mean_ablation=args.mean_ablation,
        prefilter=args.prefilter,
        abs_value_threshold=args.abs_value_threshold,
        tree_shaking=args.tree_shaking,
        engine=args.engine,
        device=args.device,
        dtype=args.dtype,
        pins=tuple(args.pin) + pins_from(args),
        force_prunes=tuple(args.force_prune),
    )


_NOT_FOR_SWEEP = {"threshold": "--threshold (give --thresholds or --logspace)", "log": "--log", "dot": "--dot"}


def _add_sweep_parser(sub) -> None:
    """`sweep`: the options of `run` (kept in sync by reusing them), a τ grid instead of --threshold."""
    sweep = sub.add_parser("sweep", help="run ACDC over many thresholds; ROC and AUC against the task's ground truth")
    # Let values such as `--logspace -6,0,7` start with a minus sign (argparse only allows plain negative numbers).
    sweep._negative_number_matcher = re.compile(r"^-\.?\d")
    _add_run_options(sweep)
    for action in sweep._actions:
        if action.dest in _NOT_FOR_SWEEP:
            action.required, action.help = False, argparse.SUPPRESS
        elif action.dest == "out":
            action.help = "sweep JSON to write (default sweep.json)"
        elif action.dest == "headless":
            action.help = "accepted for symmetry with run: a sweep is always headless"
        elif action.dest == "quiet":
            action.help = "no progress on stderr (table, plots and summary only)"
    grid = sweep.add_mutually_exclusive_group(required=True)
    grid.add_argument("--thresholds", metavar="T1,T2,...", help="comma-separated thresholds, e.g. 0.1,0.01,1e-6")
    grid.add_argument("--logspace", metavar="LO,HI,N", help="N thresholds from 10^LO to 10^HI, log-spaced, e.g. -6,0,7")
    sweep.add_argument("--with-edges", action="store_true", help="also store each run's kept edges in the JSON")
    sweep.add_argument("--journal", metavar="FILE", default=None, help="the sweep's journal, every point's events as run 1..N (default: a new file in acdc-output/runs/)")
    sweep.add_argument("--ascii", action="store_true", help="plots in plain ASCII (default: Unicode when the terminal can show it)")
    sweep_cmd.add_options(sweep, grid)


def cmd_sweep(args: argparse.Namespace) -> int:
    import tasks
    from acdc_tui.analysis.sweep import parse_logspace, parse_thresholds, run_sweep
    from acdc_tui.models.backend import check_device, parse_dtype
    from acdc_tui.runs.experiment import prepare

    if sweep_cmd.wants(args):  # --ray or --top-k
        return sweep_cmd.run(args)
    given = [flag for dest, flag in _NOT_FOR_SWEEP.items() if getattr(args, dest, None) not in (None, False)]
    if given:
        raise UserError(f"sweep does not take {given[0]}")
    thresholds = parse_thresholds(args.thresholds) if args.thresholds is not None else parse_logspace(args.logspace)
    dtype = parse_dtype(args.dtype)
    check_device(args.device)
    from acdc_tui.cli import signals
    from acdc_tui.runs.identity import Recipe, journal_meta
    from acdc_tui.runs.journal.writer import JournalWriter
    from acdc_tui.runs.outputs import OutputLocks, check_distinct, task_inputs
    from acdc_tui.runs.paths import new_journal_path

    if args.out == "" or args.journal == "":
        raise UserError(f"{'--out' if args.out == '' else '--journal'} is empty: give a file name")
    out = Path(args.out) if args.out else Path("sweep.json")
    journal = Path(args.journal) if args.journal else None
    check_distinct([("--out", out), ("--journal", journal)], task_inputs(args.task_dir, args.model, prompts=args.prompts))
    if journal is not None and journal.exists():
        raise UserError(f"journal {journal} already exists: choose another --journal")
    locks = OutputLocks([("--out", out)], journal)
    try:
        task = tasks.load_task(args.task, args.task_dir, args.device, dtype, model_path=args.model, prompts=args.prompts, bos=args.bos)
        if task.ground_truth is None:
            print(f"acdc-tui: note: task {task.name} has no ground-truth circuit: the sweep runs, but without ROC curve or AUC", file=sys.stderr)
        exp = prepare(task, settings_from_args(args, thresholds[0]))
        journal = journal or new_journal_path(f"{run_cmd.task_label(args)}-sweep", None)
        recipe = Recipe.of(args.task, args.task_dir, args.model, args.device, args.dtype, args.prompts, args.bos)
        writer = JournalWriter.create(journal, {**journal_meta(exp, recipe, kind="sweep", outputs={"out": str(out)}), "thresholds": thresholds})
        writer.start_session(exp.settings.engine)
        previous, result = signals.install(), None
        try:
            result = run_sweep(exp, thresholds, quiet=args.quiet, journal=writer)
        finally:
            signals.restore(previous)
            writer.end_session("finished" if result is not None and result.complete else "stopped")
            writer.close()
        return sweep_cmd.finish(result, args, out, f"{len(result.points)} thresholds", f"every point's decisions are in the journal {journal}")
    finally:
        locks.release()


def _interactive() -> bool:
    """A terminal, or a browser tab of `acdc-tui serve` (textual-serve runs us with its web driver)."""
    return (sys.stdin.isatty() and sys.stdout.isatty()) or os.environ.get("TEXTUAL_DRIVER", "").endswith(":WebDriver")


def check_task_source(args: argparse.Namespace) -> None:
    """The task name or task directory exists (before any model loads)."""
    import tasks

    prompts = getattr(args, "prompts", None)
    if prompts is not None and not Path(prompts).is_file():
        raise UserError(f"prompts file {prompts!r} {'is a directory' if Path(prompts).is_dir() else 'does not exist'}: pass a .jsonl file with one {{\"clean\", \"corrupted\"}} object a line")
    if args.task_dir is None:
        tasks.check_task_name(args.task)
    else:
        from tasks.task_dir import check_task_dir

        check_task_dir(args.task_dir)


def cmd_open(args: argparse.Namespace) -> int:
    from acdc_tui.runs.journal.view import is_journal
    from acdc_tui.runs.sources import load_any as load_circuit_any

    if is_journal(args.circuit) and _interactive():  # a whole journal: the live explorer (acdc-tui attach)
        args.journal, args.out = args.circuit, None
        return explore_cmd.cmd_attach(args)
    loaded = load_circuit_any(args.circuit)  # validated exactly as `dot` and `diff` validate
    if not _interactive():
        raise UserError("acdc-tui open needs a terminal: use acdc-tui dot FILE for text output")
    from acdc_tui.ui.app import ExplorerApp

    ExplorerApp(circuit=loaded.circuit, circuit_graph=loaded.graph, description=str(args.circuit), out=Path(args.circuit).with_name(Path(args.circuit).stem + "-copy.json"), ascii_only=True if args.ascii else None, scores=_scores_path(args)).run()
    return 0


def _scores_path(args: argparse.Namespace) -> Path | None:
    """--scores, checked before any window opens."""
    if getattr(args, "scores", None) is None:
        return None
    from acdc_tui.io.scores import read_scores

    read_scores(args.scores)
    return Path(args.scores)


def cmd_tasks() -> int:
    import tasks

    for name in tasks.TASK_NAMES:  # summaries, not load_task: hub tasks would download their models
        print(f"{name:18} {tasks.TASK_SUMMARIES[name]}")
    print(f"{'--task-dir DIR':18} your own model: config.json, weights.pt, tokens.pt; or a Hugging Face checkpoint, its tokenizer and prompts.jsonl; metrics kl, logit_diff, prob_diff, nll")
    print(f"{'--prompts FILE':18} text prompts (JSONL) with --model DIR or --task-dir DIR: see docs/your-own-experiment.md")
    print(f"{'--model PATH':18} with any task: a local Hugging Face checkpoint directory replaces the task's model")
    return 0


def cmd_dot(args: argparse.Namespace) -> int:
    from acdc_tui.io.atomic import write_atomic
    from acdc_tui.io.dot import to_dot
    from acdc_tui.runs.outputs import check_distinct
    from acdc_tui.runs.sources import load_any as load_circuit_any

    if args.out is not None:
        check_distinct([("--out", args.out)], [("the circuit file", args.circuit)])
    text = to_dot(load_circuit_any(args.circuit).circuit, include_removed=args.include_removed)
    if args.out:
        write_atomic(args.out, text.encode())
    else:
        sys.stdout.write(text)
    return 0


COMMANDS = {
    "open": lambda args: cmd_open(args),
    "run": lambda args: run_cmd.cmd_run(args),
    "resume": lambda args: run_cmd.cmd_resume(args),
    "branch": lambda args: run_cmd.cmd_branch(args),
    "export": lambda args: journal_cmd.cmd_export(args),
    "ps": lambda args: journal_cmd.cmd_ps(args),
    "log": lambda args: journal_cmd.cmd_log(args),
    "attach": lambda args: explore_cmd.cmd_attach(args),
    "sweep": lambda args: cmd_sweep(args),
    "tasks": lambda args: cmd_tasks(),
    "dot": lambda args: cmd_dot(args),
    "diff": lambda args: diff_cmd.run(args),
    "serve": lambda args: serve_cmd.run(args),
    "attribute": lambda args: attribute_cmd.run(args),
    "plan": lambda args: plan_cmd.run(args),
}


_DRAWS_ITS_OWN_SCREEN = {"open", "attach", "serve", "explore"}
# control characters a name can carry (an ANSI escape in an --out name, a hook name in a file); the
# progress line's own "erase line" (ESC [2K) is ours and kept
_CONTROL = re.compile(r"\x1b(?!\[2K)|[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f\x80-\x9f]")


class _EscapingStream:
    """A terminal stream that shows control characters as escapes (\x1b), so no name is echoed raw."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text))
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _escape_terminal_output() -> None:
    """Only on a terminal: output piped to a file is the data as it is."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        if tty and not isinstance(stream, _EscapingStream):
            setattr(sys, name, _EscapingStream(stream))


def _disk_full(e: BaseException) -> bool:
    import errno

    return (isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)) or "disk is full" in str(e) or "database or disk is full" in str(e)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        explorer = not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help"))
        try:
            if argv and argv[0] == "--help-explorer":
                build_explorer_parser().print_help()
                return 0
            args = (build_explorer_parser() if explorer else build_parser()).parse_args(argv)
        except SystemExit as e:  # usage errors (one line, already printed) and --help
            return int(e.code or 0)
        if explorer:
            return explore_cmd.cmd_explore(args, _interactive())
        command = COMMANDS.get(args.command)
        if command is not None:
            if args.command not in _DRAWS_ITS_OWN_SCREEN:
                _escape_terminal_output()
            return command(args)
        build_parser().print_help()
        return 2
    except UserError as e:
        for line in getattr(e, "lines", None) or [str(e)]:  # UserErrors: one line per problem
            print(f"acdc-tui: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("acdc-tui: interrupted", file=sys.stderr)
        return 130
    except (OSError, sqlite3.OperationalError) as e:
        if not _disk_full(e):
            raise
        print("acdc-tui: error: the disk is full: the journal keeps every decision committed so far; free some space, then `acdc-tui resume JOURNAL` (acdc-tui ps lists the runs)", file=sys.stderr)
        return 4
    except MemoryError:
        print("acdc-tui: error: out of memory: use fewer or shorter examples, or a machine with more memory", file=sys.stderr)
        return 3
    except RuntimeError as e:  # torch reports CUDA out-of-memory as a RuntimeError subclass
        if "out of memory" in str(e).lower():
            print("acdc-tui: error: out of GPU memory: use fewer or shorter examples, --dtype float32, or --device cpu", file=sys.stderr)
            return 3
        raise
