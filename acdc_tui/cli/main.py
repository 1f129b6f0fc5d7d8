"""Command line: `acdc-tui [run options]` (the explorer) and `acdc-tui COMMAND ...`.

This module only assembles: each command is a module of `cli/commands/` with `register(subparsers)` and
`run(args)`, and every option is declared once in `cli/options.py`. Every user error ends in one line
on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys

from acdc_tui.cli import options
from acdc_tui.cli.commands import (
    attach,
    attribute,
    branch,
    diff,
    dot,
    explore,
    export,
    log,
    open as open_command,
    ps,
    resume,
    run,
    serve,
    sweep,
    tasks,
)
from acdc_tui.core.errors import UserError

# In --help order.
COMMANDS = (open_command, run, resume, branch, export, ps, log, attach, sweep, attribute, tasks, dot, diff, serve)

build_explorer_parser = explore.build_parser


def build_parser() -> argparse.ArgumentParser:
    parser = options.OneLineParser(
        prog="acdc-tui",
        usage=explore.USAGE,
        description="Automatic Circuit DisCovery (ACDC) for TransformerLens models. With no command, or with run options only, opens the explorer (a terminal UI) on the task; `acdc-tui --help-explorer` lists its options.",
    )
    sub = parser.add_subparsers(dest="command", parser_class=options.OneLineParser)
    for command in COMMANDS:
        command.register(sub).set_defaults(handler=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = options.join_negative_values(sys.argv[1:] if argv is None else argv)
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
            return explore.run(args)
        handler = getattr(args, "handler", None)
        if handler is not None:
            return handler(args)
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
