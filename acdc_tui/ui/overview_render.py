"""The overview as text: a layer x head grid of cells, each a state mark with its in-edge counts.

Pure (no textual): returns the lines and where each cell sits; the widget styles and navigates.

    inputs  ● embed
             0       1       2     …   mlp
    L0   ● 1/0   ● 1/0   ✗ 0/1     │ ● 13/0
    L1   · 0/0   ▶ 3/14  ● 14/0    │ ·
    output  ● out 12 kept 3 removed of 27
    a1.1 current: 3 kept, 14 removed, 25 open of 42 in-edges
    · pending  ▶ current  ● alive  ✗ dead  ◆ pinned/forced

The layout adapts to the space: the widest cell format that fits (mark and kept/removed counts,
mark and kept count, mark only), one layer per line, or several layers side by side when the
layers do not fit the height (a 12-layer model in 80x24). Marks carry the state without colour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

from acdc_tui.ui.cell_states import ASCII_MARKS, MARKS, WORDS, CellBook, CellState, CellSummary
from acdc_tui.ui.model_map import Cell, LayerCells

FOLD_GAP = "   "


class CellFormat(Enum):
    FULL = "full"  # mark, kept/removed
    KEPT = "kept"  # mark, kept
    SPACED = "spaced"  # mark, one space between cells
    DENSE = "dense"  # mark, no space


GAP = {CellFormat.FULL: 1, CellFormat.KEPT: 1, CellFormat.SPACED: 1, CellFormat.DENSE: 0}


@dataclass(frozen=True)
class Layout:
    cell_format: CellFormat
    fold: int  # layers side by side on one line
    header: bool  # head indices above the grid
    legend: bool
    split_io: bool  # inputs above the grid and the output below it, else both on the first line


@dataclass
class OverviewText:
    lines: list[str]
    layout: Layout
    cells: dict[Cell, tuple[int, int, int]] = field(default_factory=dict)  # cell -> (line, start, end)
    states: dict[Cell, CellState] = field(default_factory=dict)


@dataclass(frozen=True)
class _Widths:
    layer: int  # digits of the largest layer index
    kept: int
    removed: int

    def cell(self, fmt: CellFormat) -> int:
        return {CellFormat.FULL: 1 + self.kept + 1 + self.removed, CellFormat.KEPT: 1 + self.kept}.get(fmt, 1)


def render_overview(book: CellBook, width: int, height: int, cursor: Cell | None = None, ascii_only: bool = False) -> OverviewText:
    """Lay out every cell of `book`'s map in `width` x `height` (scrolls if even the densest layout does not fit)."""
    m = book.map
    summaries = book.summaries()
    most = max((s.counts.total for s in summaries.values()), default=0)
    digits = len(str(most))
    widths = _Widths(len(str(max((row.layer for row in m.layers), default=0))), digits, digits)
    layout = choose_layout(m.layers, widths, width, height)
    out = OverviewText([], layout, states={c: s.state for c, s in summaries.items()})
    marks = ASCII_MARKS if ascii_only else MARKS
    writer = _Writer(out, marks)

    writer.io_line("inputs  ", [(c, f"{marks[summaries[c].state]} {c.label}") for c in m.inputs])
    if not layout.split_io and m.output is not None:
        writer.lines[-1] += "   output  "
        writer.put(m.output, _output_text(summaries[m.output], marks))
    if layout.header and m.layers:
        writer.lines.append(_header(m.layers[-1], widths, layout, _row_width(m.layers, widths, layout.cell_format), ascii_only))
    rows = math.ceil(len(m.layers) / layout.fold) if m.layers else 0
    for r in range(rows):
        writer.lines.append("")
        for col, k in enumerate(range(r, len(m.layers), rows)):
            if col:
                writer.lines[-1] = writer.lines[-1].ljust(col * (_row_width(m.layers, widths, layout.cell_format) + len(FOLD_GAP)))
            _layer_row(writer, m.layers[k], summaries, widths, layout.cell_format, ascii_only)
    if layout.split_io and m.output is not None:
        writer.io_line("output  ", [(m.output, _output_text(summaries[m.output], marks))])
    writer.lines.append(describe(summaries[cursor]) if cursor is not None and cursor in summaries else "")
    if layout.legend:
        writer.lines.append(legend(marks))
    return out


def choose_layout(layers: list[LayerCells], widths: _Widths, width: int, height: int) -> Layout:
    """The most readable layout that fits: one layer per line before counts, counts before spacing."""
    for fold in range(1, max(1, len(layers)) + 1):
        rows = math.ceil(len(layers) / fold)
        for fmt in CellFormat:
            if fold * _row_width(layers, widths, fmt) + (fold - 1) * len(FOLD_GAP) > width:
                continue
            spare = height - (rows + 2)  # the inputs/output line and the cursor's description
            if spare < 0:
                break  # narrower cells need no fewer lines: fold more
            split_io, spare = spare >= 1, spare - 1
            legend, spare = spare >= 1, spare - 1
            return Layout(fmt, fold, fmt in (CellFormat.FULL, CellFormat.KEPT) and spare >= 1, legend, split_io)
    return Layout(CellFormat.DENSE, 1, False, True, True)  # nothing fits: one layer per line, scrolled


def _row_width(layers: list[LayerCells], widths: _Widths, fmt: CellFormat) -> int:
    return max((len(_row_prefix(row.layer, widths)) + _cells_width(row, widths, fmt) for row in layers), default=0)


def _cells_width(row: LayerCells, widths: _Widths, fmt: CellFormat) -> int:
    w, gap = widths.cell(fmt), GAP[fmt]
    total = len(row.heads) * (w + gap) - gap if row.heads else 0
    if row.kv_heads:
        total += len(" kv ") + len(row.kv_heads) * (w + gap) - gap
    if row.blocks:
        total += len(_block_sep(fmt)) + len(row.blocks) * (w + gap) - gap
    return total


def _row_prefix(layer: int, widths: _Widths) -> str:
    return f"L{layer:<{widths.layer}} "


def _block_sep(fmt: CellFormat, ascii_only: bool = False) -> str:
    return " " if fmt is CellFormat.DENSE else " | " if ascii_only else " │ "


class _Writer:
    def __init__(self, out: OverviewText, marks: dict) -> None:
        self.out, self.lines, self.marks = out, out.lines, marks

    def put(self, cell: Cell, text: str) -> None:
        line = self.lines[-1]
        self.out.cells[cell] = (len(self.lines) - 1, len(line), len(line) + len(text))
        self.lines[-1] = line + text

    def io_line(self, title: str, items: list[tuple[Cell, str]]) -> None:
        self.lines.append(title)
        for i, (cell, text) in enumerate(items):
            if i:
                self.lines[-1] += "  "
            self.put(cell, text)


def _cell_text(s: CellSummary, widths: _Widths, fmt: CellFormat, marks: dict) -> str:
    mark, c = marks[s.state], s.counts
    decided = c.kept + c.removed > 0
    if fmt is CellFormat.FULL:
        return mark + (f"{c.kept:>{widths.kept}}/{c.removed:<{widths.removed}}" if decided else " " * (widths.kept + 1 + widths.removed))
    if fmt is CellFormat.KEPT:
        return mark + (f"{c.kept:>{widths.kept}}" if decided else " " * widths.kept)
    return mark


def _layer_row(writer: _Writer, row: LayerCells, summaries: dict[Cell, CellSummary], widths: _Widths, fmt: CellFormat, ascii_only: bool) -> None:
    gap = " " * GAP[fmt]
    writer.lines[-1] += _row_prefix(row.layer, widths)
    groups = [("", row.heads), (" kv ", row.kv_heads), (_block_sep(fmt, ascii_only), row.blocks)]
    for sep, cells in groups:
        if not cells:
            continue
        writer.lines[-1] += sep
        for i, cell in enumerate(cells):
            if i:
                writer.lines[-1] += gap
            writer.put(cell, _cell_text(summaries[cell], widths, fmt, writer.marks))


def _header(row: LayerCells, widths: _Widths, layout: Layout, row_width: int, ascii_only: bool) -> str:
    """Head indices over the cells (the last layer's heads; every layer has the same count here)."""
    w, gap = widths.cell(layout.cell_format), GAP[layout.cell_format]
    text = " " * len(_row_prefix(row.layer, widths)) + (" " * gap).join(f" {c.index}".ljust(w) for c in row.heads)
    if row.kv_heads:
        text += " kv " + (" " * gap).join(f" {c.index}".ljust(w) for c in row.kv_heads)
    if row.blocks:
        text += _block_sep(layout.cell_format, ascii_only) + (" " * gap).join(" " + c.label.rstrip("0123456789") for c in row.blocks)
    return FOLD_GAP.join([text.ljust(row_width)] * layout.fold).rstrip()


def _output_text(s: CellSummary, marks: dict) -> str:
    c = s.counts
    return f"{marks[s.state]} {s.cell.label}  {c.kept} kept {c.removed} removed of {c.total}"


def describe(s: CellSummary) -> str:
    """One line about a cell: its state and in-edge counts."""
    c = s.counts
    text = f"{s.cell.label} {WORDS[s.state]}: "
    if c.total:
        text += f"{c.kept} kept, {c.removed} removed, {c.undecided} open of {c.total} in-edges"
    else:
        text += "no tested in-edges"
    overrides = [f"{n} {what}" for n, what in ((c.pinned, "pinned"), (c.forced, "force-pruned")) if n]
    return text + (f"; {', '.join(overrides)}" if overrides else "")


def legend(marks: dict) -> str:
    return "  ".join(f"{marks[s]} {WORDS[s]}" for s in CellState)


def neighbour(text: OverviewText, cell: Cell, dx: int, dy: int) -> Cell:
    """The cell left/right (dx) on the same line, or on the nearest line above/below (dy) closest in column."""
    line, start, end = text.cells[cell]
    centre = (start + end) / 2
    if dx:
        same = [(c, s) for c, (l, s, _) in text.cells.items() if l == line and (s - start) * dx > 0]
        return min(same, key=lambda cs: abs(cs[1] - start))[0] if same else cell
    others = [l for (l, _, _) in text.cells.values() if (l - line) * dy > 0]
    if not others:
        return cell
    target = min(others, key=lambda l: abs(l - line))
    row = [(c, (s + e) / 2) for c, (l, s, e) in text.cells.items() if l == target]
    return min(row, key=lambda cc: abs(cc[1] - centre))[0]
