"""Every command-line option, declared once, and the run recipe built from them (the edge).

A command adds the options it takes (`RUN.add(parser)`, `OUT.add(parser, help=...)`); the run options
become one frozen `RunRecipe` in `recipe_from_args`, and nothing past that point reads argv. Light: no
torch (`--help`, `tasks`, `ps`, `dot` and `open` import this module).
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from acdc_tui.cli.bounds import bounded_int
from acdc_tui.core.architecture.families import supported_model_types  # pure: no torch
from acdc_tui.core.errors import UserError

DEFAULT_THRESHOLD = 0.01  # for the embedded default task (tracr-reverse, L2)
DEFAULT_PORT = 8000
ENGINES = ("fast", "plain")
DTYPES = ("float32", "float64")  # half precision: not yet shown to give the same decisions
BOS_CHOICES = ("auto", "on", "off")


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is a single line naming the fix."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class DeviceChoices:
    """`cpu`, `cuda` or `cuda:N`: a container for argparse's `choices` that lists the first two."""

    def __contains__(self, value: object) -> bool:
        return value == "cpu" or (isinstance(value, str) and re.fullmatch(r"cuda(:\d+)?", value) is not None)

    def __iter__(self):
        return iter(("cpu", "cuda"))


# --- value types: a bad value is one line naming the fix -------------------------------------------


def threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold {text!r} is not a number, e.g. --threshold 0.01") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"threshold {text!r} is not a finite number: give a number such as 0.01")
    return value


def engine(text: str) -> str:
    if text not in ENGINES:
        raise argparse.ArgumentTypeError(f"unknown engine {text!r}: choose one of {', '.join(ENGINES)}")
    return text


def device(text: str) -> str:
    if text not in DeviceChoices():
        raise argparse.ArgumentTypeError(f"unknown device {text!r}: use cpu or cuda")
    return text


def dtype(text: str) -> str:
    if text not in DTYPES:
        raise argparse.ArgumentTypeError(f"unknown dtype {text!r}: use one of {', '.join(DTYPES)}")
    return text


# --- the declarations ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Option:
    """One option: its flags and argparse keywords. `add` takes per-command overrides (help, default)."""

    flags: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    negative_values: bool = False  # its values may start with a minus sign (`--logspace -6,0,7`)

    def add(self, parser, **overrides: Any) -> argparse.Action:
        return parser.add_argument(*self.flags, **{**self.kwargs, **overrides})

    @property
    def flag(self) -> str:
        return next(f for f in self.flags if f.startswith("--")) if any(f.startswith("--") for f in self.flags) else self.flags[0]

    @property
    def dest(self) -> str:
        return self.kwargs.get("dest") or self.flag.lstrip("-").replace("-", "_")


def _opt(*flags: str, negative_values: bool = False, **kwargs: Any) -> Option:
    return Option(tuple(flags), kwargs, negative_values)


TASK = _opt("--task", help="builtin task name (default tracr-reverse; see `acdc-tui tasks`)")
TASK_DIR = _opt("--task-dir", help="directory with config.json, weights.pt, tokens.pt; or a Hugging Face checkpoint with its tokenizer files and prompts.jsonl")
MODEL = _opt("--model", metavar="PATH", help="replace the task's model by a local Hugging Face checkpoint directory, read offline (model types: " + ", ".join(supported_model_types()) + ")")
PROMPTS = _opt("--prompts", metavar="FILE", help="text prompts (JSONL: clean, corrupted, optional answer, wrong), tokenized by the tokenizer of --model DIR or --task-dir DIR")
BOS = _opt("--bos", choices=BOS_CHOICES, default=None, help="text prompts: start each with the tokenizer's BOS as the tokenizer does (auto, the default), always (on) or never (off)")
THRESHOLD = _opt("--threshold", "-t", type=threshold, default=None, help="τ: an edge is removed if the metric rises by less than this")
# Not argparse choices: a builtin task names its own metrics (tracr's l2); the task refuses an unknown one.
METRIC = _opt("--metric", help="metric name (default: the task's): kl, and with answers logit_diff, prob_diff, nll (lower is better; see docs/your-own-experiment.md)")
ZERO_ABLATION = _opt("--zero-ablation", action="store_true", help="ablate to zero instead of the patch (corrupted) data")
MEAN_ABLATION = _opt("--mean-ablation", action="store_true", help="ablate to each sender's output averaged over the patch data, per position")
PREFILTER = _opt("--prefilter", metavar="METHOD:FRACTION", default=None, help="remove the FRACTION of tested edges with the lowest attribution (eap or eap-ig) untested first; not the reference algorithm")
ABS_VALUE_THRESHOLD = _opt("--abs-value-threshold", action="store_true", help="compare |Δ| with the threshold")
TREE_SHAKING = _opt("--tree-shaking", action="store_true", help="finally remove nodes not on an input-to-output path")
PIN = _opt("--pin", action="append", default=[], metavar="EDGE", help="never remove SENDER->RECEIVER (tested, logged, kept); repeatable")
FORCE_PRUNE = _opt("--force-prune", action="append", default=[], metavar="EDGE", help="remove SENDER->RECEIVER without a threshold test; repeatable")
PINS_FROM = _opt("--pins-from", metavar="FILE", default=None, help="pin every tested edge present in this circuit file (acdc-tui JSON, EAP-IG graph JSON or reference .pth), matched by hook name")
ENGINE = _opt("--engine", type=engine, choices=ENGINES, default="fast", help="evaluation engine: fast (default) or plain")
DEVICE = _opt("--device", type=device, choices=DeviceChoices(), default="cpu", metavar="{cpu,cuda}", help="cpu or cuda (or cuda:N)")
DTYPE = _opt("--dtype", type=dtype, choices=DTYPES, default="float32", help="float32 (default) or float64")
OUT = _opt("--out", "-o", default=None, help="circuit JSON to write (default circuit.json)")
LOG = _opt("--log", default=None, help="also write the reference-format log here")
DOT = _opt("--dot", default=None, help="also write the circuit as Graphviz DOT")
QUIET = _opt("--quiet", "-q", action="store_true", help="no log on stdout (progress and summary only)")
HEADLESS = _opt("--headless", action="store_true", help="no UI: log, progress and JSON only")
FORMAT = _opt("--format", choices=("json", "eap", "dot"), default="json", help="format of the --out circuit file: json (acdc-tui, everything; default), eap (EAP-IG / MIB graph JSON) or dot (Graphviz)")
JOURNAL = _opt("--journal", metavar="FILE", default=None, help="the run's journal (default: a new file in acdc-output/runs/, named after task, τ and time, *.journal)")
PAUSED = _opt("--paused", action="store_true", help="start paused and wait for commands through the journal (what the explorer does)")
RECIPE = _opt("--recipe", metavar="FILE", default=None, help="instead of the run options: a run recipe file (the explorer and serve start their run process with one)")
ASCII = _opt("--ascii", action="store_true", help="draw with ASCII only (default: Unicode when the terminal encoding is UTF-8)")
RUN_AT_ONCE = _opt("--run", action="store_true", help="start running at once instead of paused")
SCORES = _opt("--scores", metavar="FILE", default=None, help="attribution scores (acdc-tui attribute --out) to show beside Δ in the Edges tab, marking where they disagree with ACDC")
PORT = _opt("--port", type=bounded_int("--port", 1, 65535, DEFAULT_PORT), default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
HOST = _opt("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: only this machine, reached through an SSH tunnel)")
TOKEN = _opt("--token", default=None, help="the secret the URL must carry (default: a new random one each time; see docs/security.md)")
NO_TOKEN = _opt("--no-token", action="store_true", help="no secret: anyone who can reach the port drives the explorer (a warning is printed)")
MAX_SESSIONS = _opt("--max-sessions", type=bounded_int("--max-sessions", 1, 64, 4), default=4, metavar="N", help="at most N browser tabs (explorer processes) at once (default 4)")
THRESHOLDS = _opt("--thresholds", metavar="T1,T2,...", negative_values=True, help="comma-separated thresholds, e.g. 0.1,0.01,1e-6")
LOGSPACE = _opt("--logspace", metavar="LO,HI,N", negative_values=True, help="N thresholds from 10^LO to 10^HI, log-spaced, e.g. -6,0,7")
FRACTIONS = _opt("--fractions", metavar="F1,F2,...", default=None, negative_values=True, help="with --top-k: edge fractions (default MIB's 0.001,0.002,0.005,0.01,0.02,0.05,0.1,0.2,0.5,1)")

# The run options shared by `run`, `sweep`, `serve` and the explorer, in --help order (the task source first).
RUN_OPTIONS = (MODEL, PROMPTS, BOS, THRESHOLD, METRIC, ZERO_ABLATION, MEAN_ABLATION, PREFILTER, ABS_VALUE_THRESHOLD, TREE_SHAKING, PIN, FORCE_PRUNE, PINS_FROM, ENGINE, DEVICE, DTYPE, OUT, LOG, DOT, QUIET, HEADLESS)
EXPLORER_OPTIONS = (ASCII, RUN_AT_ONCE, SCORES)
ALL_OPTIONS = (TASK, TASK_DIR, *RUN_OPTIONS, FORMAT, JOURNAL, PAUSED, RECIPE, *EXPLORER_OPTIONS, PORT, HOST, TOKEN, NO_TOKEN, MAX_SESSIONS, THRESHOLDS, LOGSPACE, FRACTIONS)


def add_task_source(parser) -> None:
    src = parser.add_mutually_exclusive_group()
    TASK.add(src)
    TASK_DIR.add(src)


def add_run_options(parser, overrides: dict[Option, dict] | None = None) -> None:
    """The run options; `overrides` changes an option's keywords for this command (help, default)."""
    overrides = overrides or {}
    add_task_source(parser)
    for option in RUN_OPTIONS:
        option.add(parser, **overrides.get(option, {}))


def add_explorer_options(parser) -> None:
    for option in EXPLORER_OPTIONS:
        option.add(parser)


def join_negative_values(argv: list[str]) -> list[str]:
    """`--logspace -6,0,7` as `--logspace=-6,0,7`: argparse takes a word starting with a minus sign for
    an option unless it is a plain negative number."""
    flags = {f for o in ALL_OPTIONS if o.negative_values for f in o.flags}
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in flags and i + 1 < len(argv) and re.match(r"^-\.?\d", argv[i + 1]):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def given(args: argparse.Namespace, parser: argparse.ArgumentParser, options: Iterable[Option]) -> list[str]:
    """The flags among `options` whose value in `args` differs from `parser`'s default, in order."""
    return [o.flag for o in options if getattr(args, o.dest, None) not in (None, parser.get_default(o.dest))]


# --- the edge: parsed options -> RunRecipe ---------------------------------------------------------


def pins_from(path: str | None) -> tuple[str, ...]:
    """SENDER->RECEIVER texts of the tested edges present in --pins-from (empty without it)."""
    if not path:
        return ()
    from acdc_tui.core.graph import EdgeType
    from acdc_tui.runs.sources import load_any as load_circuit_any

    circuit = load_circuit_any(path).circuit
    return tuple(f"{e.sender}->{e.receiver}" for e in circuit.edges if e.present and e.type is not EdgeType.PLACEHOLDER)


def recipe_from_args(args: argparse.Namespace):
    """The run the options ask for, as one frozen RunRecipe (--pins-from read into pins)."""
    from acdc_tui.core.ablation import Ablation
    from acdc_tui.runs.recipe import RunOutputs, RunRecipe

    return RunRecipe(
        task=args.task,
        task_dir=args.task_dir,
        model=args.model,
        prompts=getattr(args, "prompts", None),
        bos=getattr(args, "bos", None),
        metric=args.metric,
        tau=DEFAULT_THRESHOLD if args.threshold is None else args.threshold,
        ablation=Ablation.of(args.zero_ablation, args.mean_ablation),
        abs_value_threshold=args.abs_value_threshold,
        tree_shaking=args.tree_shaking,
        engine=args.engine,
        device=args.device,
        dtype=args.dtype,
        pins=tuple(args.pin) + pins_from(getattr(args, "pins_from", None)),
        force_prunes=tuple(args.force_prune),
        prefilter=args.prefilter,
        outputs=RunOutputs(args.out, getattr(args, "log", None), getattr(args, "dot", None), getattr(args, "format", "json")),
    )


def task_label(recipe) -> str:
    """The task's name for file names: the task directory's name, or the builtin task's."""
    from pathlib import Path

    import tasks

    return Path(recipe.task_dir).resolve().name if recipe.task_dir else (recipe.task or tasks.DEFAULT_TASK)


def check_task_source(recipe) -> None:
    """The task name or task directory, and the prompts file, exist (before any model loads)."""
    from pathlib import Path

    import tasks

    prompts = getattr(recipe, "prompts", None)
    if prompts is not None and not Path(prompts).is_file():
        raise UserError(f"prompts file {prompts!r} {'is a directory' if Path(prompts).is_dir() else 'does not exist'}: pass a .jsonl file with one {{\"clean\", \"corrupted\"}} object a line")
    if recipe.task_dir is None:
        tasks.check_task_name(recipe.task)
    else:
        from tasks.task_dir import check_task_dir

        check_task_dir(recipe.task_dir)
