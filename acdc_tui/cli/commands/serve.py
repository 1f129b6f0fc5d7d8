"""`acdc-tui serve`: the explorer in a local web browser, for runs on a remote box.

textual-serve runs one explorer process per browser tab and relays its screen over a websocket.
Given run options, `serve` first starts the run as its own process (paused, with its journal), and
every tab attaches to that one run (`acdc-tui attach JOURNAL`); given a journal, tabs attach to it;
given a circuit file, tabs browse it (`acdc-tui open FILE`). It listens on 127.0.0.1 by default:
reach it from your own machine through an SSH tunnel, never an open port.
"""

from __future__ import annotations

import argparse
import errno
import shlex
import socket
import sys
from pathlib import Path

from acdc_tui.cli import options
from acdc_tui.cli.options import DEFAULT_PORT
from acdc_tui.core.errors import UserError


def server_token(args: argparse.Namespace) -> str | None:
    """The token the server asks for: --token, a new random one, or None with --no-token."""
    import secrets

    if args.no_token:
        if args.token is not None:
            raise UserError("--token and --no-token together: give one of them")
        return None
    if args.token is None:
        return secrets.token_urlsafe(24)
    if not (16 <= len(args.token) <= 256) or not all(c.isalnum() or c in "-_." for c in args.token):
        raise UserError("--token must be 16 to 256 letters, digits, '-', '_' or '.': e.g. the output of python -c 'import secrets; print(secrets.token_urlsafe())'")
    return args.token


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "serve",
        prog="acdc-tui serve",
        usage="acdc-tui serve [--port N] [--host ADDRESS] [JOURNAL | CIRCUIT_FILE | run options]",
        help="serve the explorer to a web browser (textual-serve); reach a remote box with ssh -L",
        description="Serve the explorer to a web browser: a run's journal to attach to, a circuit file to browse, or the run options of a new run. "
        f"From your machine: ssh -L {DEFAULT_PORT}:localhost:{DEFAULT_PORT} REMOTE, then open http://localhost:{DEFAULT_PORT}.",
    )
    p.add_argument("circuit", nargs="?", help="a journal to attach to, or a circuit file to browse (without it, the run options start a new run)")
    add_options(p)
    return p


def add_options(p: argparse.ArgumentParser) -> None:
    from acdc_tui.cli.commands.explore import overrides

    options.PORT.add(p)
    options.HOST.add(p)
    options.TOKEN.add(p)
    options.NO_TOKEN.add(p)
    options.MAX_SESSIONS.add(p)
    options.add_run_options(p, overrides())
    options.add_explorer_options(p)


def _defaults() -> argparse.ArgumentParser:
    """A parser with serve's options alone: their defaults, to tell which options were given."""
    p = options.OneLineParser(prog="acdc-tui serve", add_help=False)
    add_options(p)
    return p


def explorer_argv(args: argparse.Namespace) -> tuple[list[str], Path | None]:
    """The command line of the explorer each browser tab gets, and the journal of the run it started
    (given run options; else None). Checks the arguments first."""
    from acdc_tui.runs.journal.view import is_journal

    if args.headless:
        raise UserError("serve shows the explorer in a browser: leave out --headless (acdc-tui run is the headless way)")
    given = options.given(args, _defaults(), (options.TASK, options.TASK_DIR, *options.RUN_OPTIONS, options.RUN_AT_ONCE))
    ascii_flag = (["--ascii"] if args.ascii else []) + (["--scores", str(Path(args.scores).resolve())] if getattr(args, "scores", None) else [])
    if args.circuit is None:
        recipe = options.recipe_from_args(args)
        options.check_task_source(recipe)
        journal = _start_run(recipe, paused=not args.run).resolve()
        return [sys.executable, "-m", "acdc_tui", "attach", str(journal), *ascii_flag], journal
    if given:
        raise UserError(f"serve takes a journal, a circuit file or run options, not both: drop {given[0]} or {args.circuit}")
    path = Path(args.circuit)
    if not path.is_file():
        raise UserError(f"{args.circuit!r} does not exist: give a run's journal, or a circuit file (acdc-tui JSON, EAP-IG JSON, reference .pth)")
    if is_journal(path):
        from acdc_tui.runs.journal.reader import JournalReader

        JournalReader(path, readonly=True).close()  # not a journal of ours: one line here, not in the browser
        return [sys.executable, "-m", "acdc_tui", "attach", str(path.resolve()), *ascii_flag], None
    from acdc_tui.runs.sources import load_any

    load_any(path)  # a broken file fails here, in one line, not in the browser
    return [sys.executable, "-m", "acdc_tui", "open", str(path.resolve()), *ascii_flag], None


def _start_run(recipe, paused: bool) -> Path:
    """Start the run process the browser tabs will attach to; its journal once the model is loaded."""
    from acdc_tui.cli.commands.explore import start_run
    from acdc_tui.runs.client import RunClient
    from acdc_tui.runs.paths import new_journal_path

    journal = new_journal_path(options.task_label(recipe), recipe.tau)
    process, output = start_run(recipe, journal, paused)
    print(f"acdc-tui: started the run (pid {process.pid}, journal {journal}); loading its model ...", file=sys.stderr)
    client = RunClient(journal, process, output)
    client.wait_ready(lambda: False)
    client.close()
    return journal


def check_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: a port in TIME_WAIT is free
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise UserError(f"port {port} on {host} is in use: give another one with --port") from None
            raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


def _quiet_after_loop_closed(unraisable) -> None:
    """textual-serve's app subprocess transports are garbage-collected after its event loop closed
    (on Ctrl-C or SIGTERM) and complain in a traceback; there is nothing left to clean up."""
    if isinstance(unraisable.exc_value, RuntimeError) and "Event loop is closed" in str(unraisable.exc_value):
        return
    sys.__unraisablehook__(unraisable)


def run(args: argparse.Namespace) -> int:
    token = server_token(args)
    check_port_free(args.host, args.port)
    argv, started = explorer_argv(args)
    command = "exec " + shlex.join(argv)  # the shell becomes the explorer: stopping it stops the explorer
    try:
        from acdc_tui.cli.serve_server import GuardedServer
    except ImportError:
        raise UserError("serve needs textual-serve: pip install textual-serve (it is a dependency of acdc-tui; reinstall with .ci/setup)") from None

    base = f"http://{'localhost' if args.host in ('127.0.0.1', 'localhost', '::1') else args.host}:{args.port}"
    query = f"/?token={token}" if token else "/"
    if token is None:
        print("acdc-tui: warning: --no-token: anyone who can reach this port (every user of this machine, every web page through a tunnel) can drive the run and write files as you", file=sys.stderr)
    print(f"acdc-tui: serving the explorer at {base}{query} (one explorer per browser tab, at most {args.max_sessions}; Ctrl+C stops)", file=sys.stderr)
    if args.host in ("127.0.0.1", "localhost", "::1"):
        print(f"acdc-tui: from your own machine: ssh -L {args.port}:localhost:{args.port} THIS_HOST, then open http://localhost:{args.port}{query}", file=sys.stderr)
    sys.unraisablehook = _quiet_after_loop_closed
    try:
        GuardedServer(command, host=args.host, port=args.port, token=token, max_sessions=args.max_sessions, title="acdc-tui", public_url=base).serve()
    finally:
        if started is not None:
            _leave_run(started)
    return 0


def _leave_run(journal: Path) -> None:
    """When the server stops: a run it started that never began is stopped; one under way goes on."""
    from acdc_tui.runs.journal.reader import JournalReader
    from acdc_tui.runs.journal.schema import CommandKind

    reader = JournalReader(journal)
    try:
        if not reader.alive():
            return
        status = reader.status()
        if status.get("done", 0) == 0:
            reader.send(CommandKind.STOP, None, "serve")
            print(f"acdc-tui: stopped the run that no browser started (journal {journal})", file=sys.stderr)
        else:  # as the explorer says it: a paused run stays paused, with how to reach or stop it
            from acdc_tui.cli.commands.explore import left_behind

            print(left_behind(journal, str(status.get("mode") or "")), file=sys.stderr)
    finally:
        reader.close()
