"""Start a run process detached from the terminal: its own session (SIGHUP from a closing terminal
or a dropped SSH connection never reaches it), no stdin, its output in a file beside its journal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from acdc_tui.runs.paths import sidecar


def spawn(argv: list[str], journal: Path) -> tuple[subprocess.Popen, Path]:
    """`acdc-tui ARGV` as a detached process writing `journal`; returns it and its output file."""
    output = sidecar(journal, ".out")
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with open(output, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "acdc_tui", *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    return process, output
