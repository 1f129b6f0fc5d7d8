"""Command line: `acdc-tui run ...` (headless), `acdc-tui tasks`, `acdc-tui dot`.

Every user error ends in one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from .errors import UserError

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
    if math.isnan(value):
        raise argparse.ArgumentTypeError("threshold cannot be NaN")
    return value


def _add_run_options(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--task", help="builtin task name (default tracr-reverse; see `acdc-tui tasks`)")
    src.add_argument("--task-dir", help="directory with config.json, weights.pt, tokens.pt")
    p.add_argument("--threshold", "-t", type=_threshold, required=True, help="τ: an edge is removed if the metric rises by less than this")
    p.add_argument("--metric", help="metric name (default: the task's)")
    p.add_argument("--zero-ablation", action="store_true", help="ablate to zero instead of the patch (corrupted) data")
    p.add_argument("--abs-value-threshold", action="store_true", help="compare |Δ| with the threshold")
    p.add_argument("--tree-shaking", action="store_true", help="finally remove nodes not on an input-to-output path")
    p.add_argument("--pin", action="append", default=[], metavar="EDGE", help="never remove SENDER->RECEIVER (tested, logged, kept); repeatable")
    p.add_argument("--force-prune", action="append", default=[], metavar="EDGE", help="remove SENDER->RECEIVER without a threshold test; repeatable")
    p.add_argument("--engine", default="plain", help="evaluation engine (plain)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--dtype", default="float32", help="float32 (default) or float64")
    p.add_argument("--out", "-o", default=None, help="circuit JSON to write (default circuit.json)")
    p.add_argument("--log", default=None, help="also write the reference-format log here")
    p.add_argument("--dot", default=None, help="also write the circuit as Graphviz DOT")
    p.add_argument("--quiet", "-q", action="store_true", help="no log on stdout (progress and summary only)")
    p.add_argument("--headless", action="store_true", help="no UI: log, progress and JSON only")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="acdc-tui", description="Automatic Circuit DisCovery (ACDC) for TransformerLens models.")
    sub = parser.add_subparsers(dest="command", parser_class=OneLineParser)
    run = sub.add_parser("run", help="run ACDC (headless) and export the circuit")
    _add_run_options(run)
    sub.add_parser("tasks", help="list the builtin tasks")
    dot = sub.add_parser("dot", help="convert a circuit JSON file to Graphviz DOT")
    dot.add_argument("circuit")
    dot.add_argument("--out", "-o", default=None, help="write here instead of stdout")
    dot.add_argument("--include-removed", action="store_true")
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    from .experiment import Settings, prepare
    from .headless import run_headless
    from .model_backend import check_device, parse_dtype

    import tasks

    dtype = parse_dtype(args.dtype)
    check_device(args.device)
    out = Path(args.out) if args.out else Path("circuit.json")
    for path in (out, args.log, args.dot):  # fail before the run, not after it
        _check_writable(path)
    task = tasks.load_task(args.task, args.task_dir, args.device, dtype)
    settings = Settings(
        threshold=args.threshold,
        metric=args.metric,
        zero_ablation=args.zero_ablation,
        abs_value_threshold=args.abs_value_threshold,
        tree_shaking=args.tree_shaking,
        engine=args.engine,
        device=args.device,
        dtype=args.dtype,
        pins=tuple(args.pin),
        force_prunes=tuple(args.force_prune),
    )
    exp = prepare(task, settings)
    try:
        run_headless(exp, out, args.log, args.dot, args.quiet)
    except KeyboardInterrupt:
        print(f"acdc-tui: interrupted: the edges decided so far are saved in {out} (\"complete\": false)", file=sys.stderr)
        return 130
    return 0


def _check_writable(path: str | Path | None) -> None:
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{p} is a directory: give a file name to write")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"cannot write {p}: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK):
        raise UserError(f"cannot write {p}: directory {str(parent)!r} is not writable")


def cmd_default() -> int:
    """No arguments: the embedded default task, headless, outputs under ./acdc-output/."""
    DEFAULT_OUT_DIR.mkdir(exist_ok=True)
    args = build_parser().parse_args(["run", "--threshold", str(DEFAULT_THRESHOLD), "--out", str(DEFAULT_OUT_DIR / "circuit.json"), "--log", str(DEFAULT_OUT_DIR / "run.log"), "--dot", str(DEFAULT_OUT_DIR / "circuit.dot")])
    return cmd_run(args)


def cmd_tasks() -> int:
    import tasks

    for name in tasks.TASK_NAMES:
        t = tasks.load_task(name)
        print(f"{name:18} {t.description}; metrics: {', '.join(sorted(t.metrics))} (default {t.default_metric})")
    print(f"{'--task-dir DIR':18} your own model: config.json, weights.pt, tokens.pt; metric kl (last position)")
    return 0


def cmd_dot(args: argparse.Namespace) -> int:
    from .circuit_io import read_circuit, to_dot

    text = to_dot(read_circuit(args.circuit), include_removed=args.include_removed)
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if not argv:
            return cmd_default()
        try:
            args = build_parser().parse_args(argv)
        except SystemExit as e:  # usage errors (one line, already printed) and --help
            return int(e.code or 0)
        if args.command == "run":
            return cmd_run(args)
        if args.command == "tasks":
            return cmd_tasks()
        if args.command == "dot":
            return cmd_dot(args)
        build_parser().print_help()
        return 2
    except UserError as e:
        print(f"acdc-tui: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("acdc-tui: interrupted", file=sys.stderr)
        return 130
    except MemoryError:
        print("acdc-tui: error: out of memory: use fewer or shorter examples, or a machine with more memory", file=sys.stderr)
        return 3
    except RuntimeError as e:  # torch reports CUDA out-of-memory as a RuntimeError subclass
        if "out of memory" in str(e).lower():
            print("acdc-tui: error: out of GPU memory: use fewer or shorter examples, --dtype float32, or --device cpu", file=sys.stderr)
            return 3
        raise
