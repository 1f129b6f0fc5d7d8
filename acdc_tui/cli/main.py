"""Command line: `acdc-tui [run options]` (the explorer) and `acdc-tui COMMAND ...`.

This module only assembles: each command is a module of `cli/commands/` with `register(subparsers)` and
`run(args)`, and every option is declared once in `cli/options.py`. Every user error ends in one line
on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import errno
import re
import sqlite3
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
    plan,
    ps,
    resume,
    run,
    serve,
    sweep,
    tasks,
)
from acdc_tui.core.errors import UserError

# In --help order.
COMMANDS = (open_command, run, resume, branch, export, ps, log, attach, sweep, attribute, plan, tasks, dot, diff, serve)
# commands that draw their own screen (a terminal UI, or serve's pages): their output is not escaped
DRAWS_ITS_OWN_SCREEN = (open_command, attach, serve)
# control characters a name can carry (an ANSI escape in an --out name, a hook name in a file); the
# progress line's own "erase line" (ESC [2K) is ours and kept
_CONTROL = re.compile(r"\x1b(?!\[2K)|[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f\x80-\x9f]")

build_explorer_parser = explore.build_parser


def build_parser() -> argparse.ArgumentParser:
    parser = options.OneLineParser(
        prog="acdc-tui",
        usage=explore.USAGE,
        description="Automatic Circuit DisCovery (ACDC) for TransformerLens models. With no command, or with run options only, opens the explorer (a terminal UI) on the task; `acdc-tui --help-explorer` lists its options.",
    )
    sub = parser.add_subparsers(dest="command", parser_class=options.OneLineParser, prog="acdc-tui")  # `acdc-tui run [-h] ...`, not the explorer's usage
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
            if handler not in {command.run for command in DRAWS_ITS_OWN_SCREEN}:
                _escape_terminal_output()
            return handler(args)
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


class _EscapingStream:
    """A terminal stream that shows control characters as escapes (\\x1b), so no name is echoed raw."""

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
    return (isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)) or "disk is full" in str(e)
