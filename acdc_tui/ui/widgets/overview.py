"""The Overview tab: the whole model as a grid of cells (inputs, heads by layer, MLPs, output).

Each cell's mark says its state and colour repeats it; arrows move a cursor between cells and the
cell under it is selected everywhere (tree, Edges, Details). Redrawn on every update: the layout
costs well under a millisecond once the cells' counts are known (see `cell_states`).
"""

from __future__ import annotations

from rich.style import Style
from textual import events
from textual.binding import Binding

from acdc_tui.core.graph import Node
from acdc_tui.ui.cell_states import CellState
from acdc_tui.ui.model_map import Cell
from acdc_tui.ui.overview_render import OverviewText, neighbour, render_overview
from acdc_tui.ui.messages import NodeChosen
from acdc_tui.ui.state import ExplorerState
from acdc_tui.ui.widgets.lines_view import LinesView, Span

CELL_STYLES = {
    CellState.PENDING: Style(dim=True),
    CellState.CURRENT: Style(color="black", bgcolor="yellow", bold=True),
    CellState.ALIVE: Style(color="green", bold=True),
    CellState.DEAD: Style(color="red"),
    CellState.OVERRIDDEN: Style(color="yellow", bold=True),
}
CURSOR = Style(reverse=True, bold=True)
HINT = "arrows move between cells; the cell under the cursor is selected in the side bar, Edges and Details"


def fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


class Overview(LinesView):
    BINDINGS = [
        Binding("up", "move(0, -1)", "Up", show=False),
        Binding("down", "move(0, 1)", "Down", show=False),
        Binding("left", "move(-1, 0)", "Left", show=False),
        Binding("right", "move(1, 0)", "Right", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last", show=False),
        Binding("enter", "choose", "Select", show=False),
    ]

    def __init__(self, state: ExplorerState, ascii_only: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state, self.ascii_only = state, ascii_only
        self.cursor: Cell | None = None
        self.text: OverviewText | None = None
        self._spans: dict[int, list[Span]] = {}
        self.dirty = True

    # ---- drawing ----

    def changed(self) -> None:
        """The state changed: redraw now if the tab is shown, else when it is."""
        self.dirty = True
        if self.is_on_screen:
            self.redraw()

    def on_show(self) -> None:
        if self.dirty:
            self.redraw()

    def redraw(self) -> None:
        """Lay the cells out again from the state (after an update, a resize or a cursor move)."""
        self.dirty = False
        region = self.scrollable_content_region
        width, height = (region.width, region.height) if region.width else (80, 24)
        self.text = render_overview(self.state.cells, width, height, self.cursor, self.ascii_only)
        lines = list(self.text.lines)
        info = -2 if self.text.layout.legend else -1
        if self.cursor is None:
            lines[info] = HINT
        for i in (info, -1):  # prose lines must not widen the grid into a horizontal scrollbar
            lines[i] = fit(lines[i], width)
        styles = [None] * len(lines)
        styles[-1] = Style(dim=True)
        self.set_lines(lines, styles)
        self._spans = {}
        for cell, (line, start, end) in self.text.cells.items():
            style = CURSOR if cell is self.cursor else CELL_STYLES[self.text.states[cell]]
            self._spans.setdefault(line, []).append((start, end, style))

    def spans(self, index: int) -> list[Span]:
        return self._spans.get(index, [])

    def on_mount(self) -> None:
        self.redraw()

    def on_resize(self, event: events.Resize) -> None:
        self.redraw()

    # ---- the cursor ----

    def show_node(self, node: Node) -> None:
        """Put the cursor on `node`'s cell without announcing it (the selection came from elsewhere)."""
        cell = self.state.cells.map.cell_of.get(node)
        if cell is not None and cell is not self.cursor:
            self.cursor = cell
            self.redraw()
            self._scroll_to_cursor()

    def _move_to(self, cell: Cell) -> None:
        self.cursor = cell
        self.redraw()
        self._scroll_to_cursor()
        if self.has_focus:  # only the user's moves select
            self.post_message(NodeChosen(self.state.cells.map.node_of(cell)))

    def _scroll_to_cursor(self) -> None:
        if self.text is None or self.cursor not in self.text.cells:
            return
        line, start, end = self.text.cells[self.cursor]
        region = self.scrollable_content_region
        x = None if self.scroll_x <= start and end <= self.scroll_x + region.width else max(0, start - region.width // 3)
        y = None if self.scroll_y <= line < self.scroll_y + region.height else max(0, line - region.height // 2)
        self.scroll_to(x=x, y=y, animate=False)

    def _start(self) -> Cell | None:
        cells = self.state.cells.map.cells
        return cells[0] if cells else None

    def action_move(self, dx: int, dy: int) -> None:
        if self.cursor is None or self.text is None or self.cursor not in self.text.cells:
            start = self._start()
            if start is not None:
                self._move_to(start)
            return
        self._move_to(neighbour(self.text, self.cursor, dx, dy))

    def action_first(self) -> None:
        if (start := self._start()) is not None:
            self._move_to(start)

    def action_last(self) -> None:
        cells = self.state.cells.map.cells
        if cells:
            self._move_to(cells[-1])

    def action_choose(self) -> None:
        if self.cursor is not None:
            self.post_message(NodeChosen(self.state.cells.map.node_of(self.cursor)))

    def on_click(self, event: events.Click) -> None:
        if self.text is None:
            return
        x, y = event.x + int(self.scroll_x), event.y + int(self.scroll_y)
        for cell, (line, start, end) in self.text.cells.items():
            if line == y and start <= x < end:
                self.focus()
                self._move_to(cell)
                return
