"""Progress of a run: edges decided / total, rate, ETA."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import IO, Callable


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "--:--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass
class Progress:
    total: int
    clock: Callable[[], float] = time.monotonic
    done: int = 0
    tested: int = 0  # forward passes spent on edges (skipped edges cost none)
    start: float = field(init=False)

    def __post_init__(self) -> None:
        self.start = self.clock()

    @property
    def elapsed(self) -> float:
        return self.clock() - self.start

    @property
    def rate(self) -> float:
        """Edges tested per second."""
        e = self.elapsed
        return self.tested / e if e > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left, from the decision rate so far (skips make it pessimistic early on)."""
        e = self.elapsed
        if self.done == 0 or e <= 0:
            return None
        return (self.total - self.done) * e / self.done

    def line(self, kept: int | None = None, metric: float | None = None) -> str:
        width = len(str(self.total))
        pct = 100.0 * self.done / self.total if self.total else 100.0
        parts = [f"[{self.done:>{width}}/{self.total}] {pct:5.1f}%", f"{self.rate:7.1f} edges/s", f"elapsed {format_duration(self.elapsed)}", f"ETA {format_duration(self.eta)}"]
        if kept is not None:
            parts.append(f"kept {kept}")
        if metric is not None:
            parts.append(f"metric {metric:.6g}")
        return "  ".join(parts)


class ProgressLine:
    """Live progress on a terminal (one rewritten line), a line every few seconds otherwise."""

    def __init__(self, stream: IO[str], progress: Progress, first_line_now: bool = True) -> None:
        self.stream, self.progress = stream, progress
        self.tty = stream.isatty()
        self.interval = 0.1 if self.tty else 5.0
        self._last = float("-inf") if first_line_now else time.monotonic()

    def update(self, kept: int, metric: float | None, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        text = self.progress.line(kept, metric)
        self.stream.write(f"\r\x1b[2K{text}" if self.tty else text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
