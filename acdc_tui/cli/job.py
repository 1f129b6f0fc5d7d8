"""What the commands that run a job share: the run loop with the headless sinks (run, resume, branch),
file-name checks, whether there is a terminal, and --scores."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from acdc_tui.cli import signals
from acdc_tui.cli.headless import HeadlessSink
from acdc_tui.core.errors import UserError
from acdc_tui.core.events import Event
from acdc_tui.runs.journal.writer import JournalWriter
from acdc_tui.runs.outputs import Outputs


def serve_job(
    exp,
    writer: JournalWriter,
    *,
    out: Path | None,
    dot: Path | None,
    log: Path | None,
    quiet: bool,
    autorun: bool,
    header: str,
    events: list[Event] | None = None,
    resumed_at: int | None = None,
    fmt: str = "json",
) -> int:
    """Run the loop to its end with the headless sinks; the exit status follows how it ended."""
    from acdc_tui.runs.process import Mode, RunLoop, StepError

    previous_handlers = signals.install()
    journal = writer.path
    writer.start_session(exp.settings.engine, resumed_at)
    writer.add_run(1, exp.settings.threshold)
    sink = HeadlessSink(exp.run, log, quiet, header)
    loop = RunLoop(exp, writer, events=events or (), sinks=[sink], autorun=autorun, outputs=Outputs(out, dot, fmt))
    status, exit_note, message = 0, "finished", None
    if not autorun:  # nobody may be watching: say what it waits for, and how to stop it
        print(f"acdc-tui: paused, waiting for an explorer: run `acdc-tui attach {journal}` (in a terminal, or `acdc-tui serve {journal}`); stop it with `kill {os.getpid()}` (its decisions so far stay in the journal)", file=sys.stderr, flush=True)
    try:
        mode = loop.serve()
        if mode is Mode.STOPPED:
            status, exit_note = 1, "stopped (command)"
            message = f"stopped by a command: the edges decided so far are saved in {out} (\"complete\": false); resume with: acdc-tui resume {journal}"
    except KeyboardInterrupt as e:
        status, exit_note = signals.exit_status(e), f"stopped ({signals.name(e)})"
        message = f"interrupted ({signals.name(e)}): the edges decided so far are saved in {out} (\"complete\": false); resume with: acdc-tui resume {journal}"
    except StepError as e:
        status, exit_note = 3, f"failed: {e}"
        message = f"error: {e}: the edges decided so far are saved in {out} (\"complete\": false); resume with: acdc-tui resume {journal}"
    except UserError as e:
        exit_note = f"failed: {e}"
        raise
    finally:
        sink.close()
        writer.end_session(exit_note)
        writer.close()
        signals.restore(previous_handlers)
    circuit = getattr(loop, "circuit", None)
    if circuit is not None:
        sys.stdout.write(sink.summary(circuit, loop.run, exp.metric_name, out) + "\n")
        sys.stdout.flush()
    if message:
        print(f"acdc-tui: {message}", file=sys.stderr)
    return status


def path(value: str | None, flag: str = "path") -> Path | None:
    if value is not None and not value.strip():
        raise UserError(f"{flag} is empty: give a file name")
    if value is not None and (value.endswith(("/", os.sep)) or Path(value).is_dir()):
        what = "is a directory" if Path(value).is_dir() else "names a folder"
        raise UserError(f"{flag} {value} {what}: give a file name to write (e.g. {value.rstrip('/')}/circuit.json)")
    return None if value is None else Path(value)


def interactive() -> bool:
    """A terminal, or a browser tab of `acdc-tui serve` (textual-serve runs us with its web driver)."""
    return (sys.stdin.isatty() and sys.stdout.isatty()) or os.environ.get("TEXTUAL_DRIVER", "").endswith(":WebDriver")


def scores_path(scores: str | None) -> Path | None:
    """--scores, checked before any window opens."""
    if scores is None:
        return None
    from acdc_tui.io.scores import read_scores

    read_scores(scores)
    return Path(scores)
