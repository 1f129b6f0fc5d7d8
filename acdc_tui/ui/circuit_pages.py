"""The Circuit tab's text pages: the strongest paths, and the layer matrix with the kept units by layer.

Pure (no textual). Each page is a `DagText` whose `occurrences` give every place a unit's name is
printed, so the view colours each by the unit's state and highlights the selected one everywhere.
Only names, numbers and arrows on one line: no line drawing, so nothing can show gaps in a browser.
"""

from __future__ import annotations

from acdc_tui.ui.circuit_paths import KeptCircuit, Path, Weight, units_by_layer
from acdc_tui.ui.dag_render import DagText

Occurrence = tuple[int, int, int, str]  # line, start col, end col (exclusive), unit


class PageWriter:
    """Lines of text with the positions of the unit names in them."""

    def __init__(self, width: int) -> None:
        self.width = max(40, width)
        self.lines: list[str] = []
        self.occurrences: list[Occurrence] = []

    def line(self, text: str = "") -> None:
        self.lines.append(text)

    def units(self, prefix: str, units: list[str], sep: str, indent: int) -> None:
        """`prefix` then the units joined by `sep`, wrapped at the width; continuation lines indented."""
        text = prefix
        for i, unit in enumerate(units):
            piece = (sep if i else "") + unit
            if i and len(text) + len(piece) > self.width:
                self.lines.append(text.rstrip())
                text = " " * indent + piece.lstrip()
            else:
                text += piece
            start = len(text) - len(unit)
            self.occurrences.append((len(self.lines), start, start + len(unit), unit))
        self.lines.append(text)

    def page(self) -> DagText:
        width = max((len(line) for line in self.lines), default=0)
        lines = [line.ljust(width) for line in self.lines]
        first: dict[str, tuple[int, int, int]] = {}
        for line, start, end, unit in self.occurrences:
            first.setdefault(unit, (line, start, end))
        return DagText(lines, node_spans=first, occurrences=list(self.occurrences))


def paths_page(circuit: KeptCircuit, paths: list[Path], width: int, through: str | None = None, ascii_only: bool = False) -> DagText:
    """The ranked list of the strongest input → output paths (through `through` if given)."""
    arrow = " -> " if ascii_only else " → "
    w = PageWriter(width)
    scope = f" through {through}" if through else ""
    w.line(f"{len(paths)} strongest paths{scope}")
    w.line(f"strength: product of {circuit.weight.value} / strongest")
    if not circuit.edges:
        w.line("the kept circuit has no path from an input to the output")
    elif not paths:
        w.line(f"no kept path goes through {through}" if through else "no kept path")
    for rank, path in enumerate(paths, 1):
        mark = f" {path.undecided}?" if path.undecided else ""
        prefix = f"{rank:3} {path.strength:8.1e}{mark:3} "
        w.units(prefix, list(path.units), arrow, len(prefix))
    if any(p.undecided for p in paths):
        w.line("")
        w.line("n? : the path has n undecided edges, counted as strongest until decided")
    return w.page()


def matrix_page(circuit: KeptCircuit, counts: list[list[int]], width: int, ascii_only: bool = False) -> DagText:
    """Kept hook-point edges by sender layer (rows) and receiver layer (columns), then the kept units by layer."""
    n = circuit.n_layers
    w = PageWriter(width)
    total = sum(map(sum, counts))
    w.line(f"kept edges by layer: {total:,} between {len(circuit.units)} units")
    w.line("row: from, column: to")
    cell = max(2, len(str(max((max(r) for r in counts), default=0)))) + 1
    names = ["in"] + [f"L{i}" for i in range(n)]
    w.line("    " + "".join(f"{i:>{cell}}" for i in range(n)) + f"{'out':>{max(cell, 4)}}")
    empty = "." if ascii_only else "·"
    for name, row in zip(names, counts):
        w.line(f"{name:>4}" + "".join(f"{c if c else empty:>{cell}}" for c in row[:-1]) + f"{row[-1] if row[-1] else empty:>{max(cell, 4)}}")
    w.line("")
    w.line("kept units by layer")
    for layer, units in units_by_layer(circuit):
        name = "in" if layer < 0 else "out" if layer >= n else f"L{layer}"
        w.units(f"{name:>4}  ", units, " ", 6)
    return w.page()


def weight_note(circuit: KeptCircuit, scores_loaded: bool) -> str:
    if circuit.weight is Weight.SCORE:
        return "w: rank by |Δ|"
    return "w: rank by attribution" if scores_loaded else ""
