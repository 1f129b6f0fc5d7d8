"""Start a run process detached from the terminal: its own session (SIGHUP from a closing terminal
or a dropped SSH connection never reaches it), no stdin, its output in a file beside its journal.

What the process is to do is a typed `Launch` (a new run from a recipe file, a resume, a branch);
its command line is written here and nowhere else, so the explorer and `serve` never spell argv."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from acdc_tui.runs.paths import sidecar


class LaunchKind(str, Enum):
    RUN = "run"  # a new run from a recipe file (the process reads and removes it)
    RESUME = "resume"  # a journal's run, continued after a crash or a stop
    BRANCH = "branch"  # a new run replaying a parent's first events, then its own τ and marks


@dataclass(frozen=True)
class Launch:
    """One run process to start, writing `journal`."""

    kind: LaunchKind
    journal: Path
    paused: bool = True
    recipe_file: Path | None = None  # RUN
    parent: Path | None = None  # BRANCH: the parent's journal
    step: int | None = None  # BRANCH: right after this event
    threshold: float | None = None  # BRANCH: τ from there on (None: the parent's)
    pins: tuple[str, ...] = ()  # BRANCH: edges as SENDER->RECEIVER
    force_prunes: tuple[str, ...] = ()

    @classmethod
    def run(cls, recipe_file: Path, journal: Path, paused: bool) -> "Launch":
        return cls(LaunchKind.RUN, Path(journal), paused, recipe_file=Path(recipe_file))

    @classmethod
    def resume(cls, journal: Path, paused: bool = True) -> "Launch":
        return cls(LaunchKind.RESUME, Path(journal), paused)

    @classmethod
    def branch(cls, parent: Path, step: int, journal: Path, threshold: float | None = None, pins=(), force_prunes=()) -> "Launch":
        return cls(LaunchKind.BRANCH, Path(journal), True, parent=Path(parent), step=step, threshold=threshold, pins=tuple(pins), force_prunes=tuple(force_prunes))

    def argv(self) -> list[str]:
        """The `acdc-tui` command line that does it (quiet: the process's output goes to a file)."""
        paused = ["--paused"] if self.paused else []
        if self.kind is LaunchKind.RUN:
            return ["run", "--recipe", str(self.recipe_file), "--journal", str(self.journal), "--quiet", *paused]
        if self.kind is LaunchKind.RESUME:
            return ["resume", str(self.journal), "--quiet", *paused]
        argv = ["branch", str(self.parent), "--step", str(self.step), "--journal", str(self.journal), "--out", str(sidecar(self.journal, ".json")), "--quiet", *paused]
        if self.threshold is not None:
            argv += ["--threshold", repr(self.threshold)]
        for edge in self.pins:
            argv += ["--pin", edge]
        for edge in self.force_prunes:
            argv += ["--force-prune", edge]
        return argv


def spawn(launch: Launch) -> tuple[subprocess.Popen, Path]:
    """Start `launch` as a detached process; returns it and its output file (beside its journal)."""
    output = sidecar(launch.journal, ".out")
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    with open(output, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "acdc_tui", *launch.argv()],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    return process, output
