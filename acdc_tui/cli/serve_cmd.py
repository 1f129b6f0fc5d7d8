"""`acdc-tui serve`: the explorer in a local web browser, for runs on a remote box.

textual-serve runs one explorer process per browser tab (`acdc-tui open FILE` or `acdc-tui` with
the run options given here) and relays its screen over a websocket. It listens on 127.0.0.1 by
default: reach it from your own machine through an SSH tunnel, never an open port.
"""

from __future__ import annotations

import argparse
import errno
import shlex
import socket
import sys
from pathlib import Path

from acdc_tui.core.errors import UserError

DEFAULT_PORT = 8000
SERVE_ONLY = ("circuit", "port", "host", "command")  # the rest of the namespace is the explorer's options


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port {text!r} is not a number, e.g. --port 8000") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is out of range: give 1 to 65535, e.g. --port 8000")
    return port


def add_parser(subparsers) -> None:
    from acdc_tui.cli.main import _add_explorer_options, _add_run_options

    p = subparsers.add_parser(
        "serve",
        prog="acdc-tui serve",
        usage="acdc-tui serve [--port N] [--host ADDRESS] [CIRCUIT_JSON | run options]",
        help="serve the explorer to a web browser (textual-serve); reach a remote box with ssh -L",
        description="Serve the explorer to a web browser: a circuit JSON to browse, or the run options of the explorer. "
        f"From your machine: ssh -L {DEFAULT_PORT}:localhost:{DEFAULT_PORT} REMOTE, then open http://localhost:{DEFAULT_PORT}.",
    )
    p.add_argument("circuit", nargs="?", help="circuit JSON to browse (without it, the run options choose the task)")
    p.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port to listen on (default {DEFAULT_PORT})")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: only this machine, reached through an SSH tunnel)")
    _add_run_options(p, threshold_required=False)
    _add_explorer_options(p)


def explorer_argv(args: argparse.Namespace) -> list[str]:
    """The command line of the explorer each browser tab gets; checks the arguments first."""
    from acdc_tui.cli.main import build_explorer_parser, check_task_source

    if args.headless:
        raise UserError("serve shows the explorer in a browser: leave out --headless (acdc-tui run is the headless way)")
    options = _explorer_options(build_explorer_parser(), args)
    if args.circuit is None:
        check_task_source(args)
        return [sys.executable, "-m", "acdc_tui", *options]
    given = [o for o in options if o.startswith("--") and o != "--ascii"]
    if given:
        raise UserError(f"serve takes a circuit JSON or run options, not both: drop {given[0]} or {args.circuit}")
    path = Path(args.circuit)
    if not path.is_file():
        raise UserError(f"circuit file {args.circuit!r} does not exist: give a circuit JSON written by acdc-tui run or Export (e)")
    from acdc_tui.io.circuit import read_circuit

    read_circuit(path)  # a broken file fails here, in one line, not in the browser
    return [sys.executable, "-m", "acdc_tui", "open", str(path.resolve()), *(["--ascii"] if args.ascii else [])]


def _explorer_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """The explorer options in `args` that differ from their defaults, as command-line words."""
    words: list[str] = []
    for action in parser._actions:
        if not action.option_strings or action.dest in SERVE_ONLY or action.dest == "help":
            continue
        value = getattr(args, action.dest, action.default)
        if value == action.default or value is None:
            continue
        flag = action.option_strings[-1] if action.option_strings[-1].startswith("--") else action.option_strings[0]
        if isinstance(action, argparse._StoreTrueAction):
            words.append(flag)
        elif isinstance(action, argparse._AppendAction):
            for item in value:
                words += [flag, str(item)]
        else:
            words += [flag, str(value)]
    return words


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise UserError(f"port {port} on {host} is in use: give another one with --port") from None
            raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def run(args: argparse.Namespace) -> int:
    command = shlex.join(explorer_argv(args))
    check_port_free(args.host, args.port)
    try:
        from textual_serve.server import Server
    except ImportError:
        raise UserError("serve needs textual-serve: pip install textual-serve (it is a dependency of acdc-tui; reinstall with .ci/setup)") from None
    url = f"http://{'localhost' if args.host in ('127.0.0.1', 'localhost', '::1') else args.host}:{args.port}"
    print(f"acdc-tui: serving the explorer at {url} (one explorer per browser tab; Ctrl+C stops)", file=sys.stderr)
    if args.host in ("127.0.0.1", "localhost", "::1"):
        print(f"acdc-tui: from your own machine: ssh -L {args.port}:localhost:{args.port} THIS_HOST, then open http://localhost:{args.port}", file=sys.stderr)
    Server(command, host=args.host, port=args.port, title="acdc-tui", public_url=url).serve()
    return 0
