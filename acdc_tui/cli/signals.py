"""SIGTERM (kill, timeout, SLURM) and SIGHUP (a dropped SSH connection) stop a run the way Ctrl-C
does: the run loop restores the edge under test, commits the journal and writes the partial circuit;
the process then exits with the conventional status 128 + signal number (143, 129; 130 for Ctrl-C)."""

from __future__ import annotations

import signal


class Interrupted(KeyboardInterrupt):
    """A stop signal, raised in the main thread wherever it is."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum, frame) -> None:
    # Ignore repeats while the partial outputs are being written.
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, signal.SIG_IGN)
    raise Interrupted(signum)


def install() -> dict:
    """Turn SIGTERM, SIGHUP and SIGINT into Interrupted (main thread only); returns the previous handlers."""
    previous = {}
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        previous[s] = signal.signal(s, _raise)
    return previous


def restore(previous: dict) -> None:
    for s, handler in previous.items():
        signal.signal(s, handler)


def exit_status(error: KeyboardInterrupt) -> int:
    return 128 + getattr(error, "signum", signal.SIGINT)


def name(error: KeyboardInterrupt) -> str:
    return signal.Signals(getattr(error, "signum", signal.SIGINT)).name
