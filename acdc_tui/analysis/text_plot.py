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
    tx = (lambda x: math.log10(x)) if log_x else (lambda x: x)
    pts = [(tx(x), y) for s in series for x, y in s.points if _finite(x, log_x) and math.isfinite(y)]
    if x_range is None:
        x_range = (min((p[0] for p in pts), default=0.0), max((p[0] for p in pts), default=1.0))
    else:
        x_range = (tx(x_range[0]), tx(x_range[1]))
    if y_range is None:
        y_range = (min((p[1] for p in pts), default=0.0), max((p[1] for p in pts), default=1.0))
    x0, x1 = _widen(*x_range)
    y0, y1 = _widen(*y_range)

    def col(x: float) -> int:
        return min(width - 1, max(0, round((x - x0) / (x1 - x0) * (width - 1))))

    def row(y: float) -> int:  # 0 is the top row
        return min(height - 1, max(0, height - 1 - round((y - y0) / (y1 - y0) * (height - 1))))

    grid = [[" "] * width for _ in range(height)]
    for s in series:
        cells = [(col(tx(x)), row(y)) for x, y in s.points if _finite(x, log_x) and math.isfinite(y)]
        if s.step:
            for (c0, r0), (c1, r1) in zip(cells, cells[1:]):
                for c in range(min(c0, c1), max(c0, c1) + 1):
                    _put(grid, r0, c, style["h"])
                for r in range(min(r0, r1), max(r0, r1) + 1):
                    _put(grid, r, c1, style["v"])
        for c, r in cells:
            grid[r][c] = s.marker or style["point"]

    fmt_x = x_tick_format or ((lambda v: _fmt(10**v)) if log_x else _fmt)
    y_ticks = {0: _fmt(y1), height // 2: _fmt((y0 + y1) / 2), height - 1: _fmt(y0)}
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
    labels = [fmt_x(x0), fmt_x((x0 + x1) / 2), fmt_x(x1)]
    axis_text = [" "] * (width + 1)
    for pos, text in ((0, labels[0]), ((width - len(labels[1])) // 2, labels[1]), (width + 1 - len(labels[2]), labels[2])):
        for i, ch in enumerate(text):
            if 0 <= pos + i < len(axis_text):
                axis_text[pos + i] = ch
    lines.append(" " * margin + "".join(axis_text).rstrip())
    if x_label:
        lines.append(" " * margin + x_label.center(width).rstrip())
    return "\n".join(lines) + "\n"


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
