"""Plots as plain text for a terminal: points and step lines on a character grid, with axes.

Unicode box-drawing characters by default; `ascii=True` (or a terminal whose encoding cannot
show them, see `wants_ascii`) uses only `- | + o`. No dependencies beyond the standard library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import IO, Sequence

UNICODE = {"h": "─", "v": "│", "point": "●", "axis_v": "│", "axis_h": "─", "corner": "└", "tick_v": "┤", "tick_h": "┬"}
ASCII = {"h": "-", "v": "|", "point": "o", "axis_v": "|", "axis_h": "-", "corner": "+", "tick_v": "+", "tick_h": "+"}


def wants_ascii(stream: IO[str]) -> bool:
    """True when `stream` cannot encode the Unicode plot characters (e.g. a latin-1 or ascii locale).
    A stream with no encoding (io.StringIO) holds any text."""
    encoding = getattr(stream, "encoding", None)
    if not encoding:
        return False
    try:
        "".join(UNICODE.values()).encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return True
    return False


@dataclass
class Series:
    points: Sequence[tuple[float, float]]
    step: bool = False  # join consecutive points right-then-up/down (a staircase)
    marker: str | None = None  # None: the style's point character


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-2:
        return f"{v:.0e}".replace("e-0", "e-").replace("e+0", "e")
    return f"{v:.3g}"


@dataclass(frozen=True)
class _Frame:
    """The data window (after the log transform) mapped onto a `width` x `height` grid of cells."""

    x0: float
    x1: float
    y0: float
    y1: float
    width: int
    height: int
    log_x: bool

    def tx(self, x: float) -> float:
        return math.log10(x) if self.log_x else x

    def col(self, x: float) -> int:
        return min(self.width - 1, max(0, round((x - self.x0) / (self.x1 - self.x0) * (self.width - 1))))

    def row(self, y: float) -> int:  # 0 is the top row
        return min(self.height - 1, max(0, self.height - 1 - round((y - self.y0) / (self.y1 - self.y0) * (self.height - 1))))


def plot(
    series: Sequence[Series],
    *,
    width: int = 50,
    height: int = 14,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    log_x: bool = False,
    x_label: str = "",
    y_label: str = "",
    title: str = "",
    ascii: bool = False,
    x_tick_format=None,
) -> str:
    """Render the series on a `width` x `height` grid of cells, with a y axis on the left and an x
    axis below (ticks at both ends and the middle). `log_x` plots log10(x) (x must be > 0)."""
    style = ASCII if ascii else UNICODE
    frame = _frame(series, width, height, x_range, y_range, log_x)
    grid = _draw(series, frame, style)
    fmt_x = x_tick_format or ((lambda v: _fmt(10**v)) if log_x else _fmt)
    y_ticks = {0: _fmt(frame.y1), height // 2: _fmt((frame.y0 + frame.y1) / 2), height - 1: _fmt(frame.y0)}
    margin = max(len(t) for t in y_ticks.values()) + 1
    lines = []
    if title:
        lines.append(" " * margin + title)
    if y_label:
        lines.append(" " * max(0, margin - len(y_label) // 2) + y_label)
    for r in range(height):
        tick = y_ticks.get(r)
        axis = style["tick_v"] if tick is not None else style["axis_v"]
        lines.append(f"{(tick or ''):>{margin - 1}} {axis}" + "".join(grid[r]).rstrip())
    lines.append(" " * margin + style["corner"] + style["axis_h"] * width)
    lines.append(" " * margin + _x_axis_text([fmt_x(frame.x0), fmt_x((frame.x0 + frame.x1) / 2), fmt_x(frame.x1)], width))
    if x_label:
        lines.append(" " * margin + x_label.center(width).rstrip())
    return "\n".join(lines) + "\n"


def _frame(series: Sequence[Series], width: int, height: int, x_range, y_range, log_x: bool) -> _Frame:
    """The window: the given ranges (x transformed), else the finite points' extent, widened when flat."""
    tx = _Frame(0, 1, 0, 1, width, height, log_x).tx
    pts = [(tx(x), y) for s in series for x, y in s.points if _finite(x, log_x) and math.isfinite(y)]
    if x_range is None:
        x_range = (min((p[0] for p in pts), default=0.0), max((p[0] for p in pts), default=1.0))
    else:
        x_range = (tx(x_range[0]), tx(x_range[1]))
    if y_range is None:
        y_range = (min((p[1] for p in pts), default=0.0), max((p[1] for p in pts), default=1.0))
    return _Frame(*_widen(*x_range), *_widen(*y_range), width, height, log_x)


def _draw(series: Sequence[Series], frame: _Frame, style: dict[str, str]) -> list[list[str]]:
    """The grid of cells: step lines first (never over a point), then each series' points."""
    grid = [[" "] * frame.width for _ in range(frame.height)]
    for s in series:
        cells = [(frame.col(frame.tx(x)), frame.row(y)) for x, y in s.points if _finite(x, frame.log_x) and math.isfinite(y)]
        if s.step:
            for (c0, r0), (c1, r1) in zip(cells, cells[1:]):
                for c in range(min(c0, c1), max(c0, c1) + 1):
                    _put(grid, r0, c, style["h"])
                for r in range(min(r0, r1), max(r0, r1) + 1):
                    _put(grid, r, c1, style["v"])
        for c, r in cells:
            grid[r][c] = s.marker or style["point"]
    return grid


def _x_axis_text(labels: list[str], width: int) -> str:
    """The x tick labels (left, middle, right) on one line under the axis."""
    axis_text = [" "] * (width + 1)
    for pos, text in ((0, labels[0]), ((width - len(labels[1])) // 2, labels[1]), (width + 1 - len(labels[2]), labels[2])):
        for i, ch in enumerate(text):
            if 0 <= pos + i < len(axis_text):
                axis_text[pos + i] = ch
    return "".join(axis_text).rstrip()


def _finite(x: float, log_x: bool) -> bool:
    return math.isfinite(x) and (x > 0 if log_x else True)


def _widen(lo: float, hi: float) -> tuple[float, float]:
    if hi > lo:
        return lo, hi
    pad = abs(lo) * 0.5 or 1.0
    return lo - pad, hi + pad


def _put(grid: list[list[str]], r: int, c: int, ch: str) -> None:
    if grid[r][c] == " ":
        grid[r][c] = ch
