"""The Edges tab: every edge with its state, sortable (s / S) and filterable (/).

A virtual table: only the rows on screen are drawn, from the state, when they are drawn, so
32,923 rows cost what 30 do. Rows keep their place while the run goes (cells update live); a
filter or sort that depends on the run's progress is re-applied at most once a second while the
tab is shown, the cursor staying on its edge.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Input

from acdc_tui.core.graph import Edge, Node
from acdc_tui.ui.actions import bindings
from acdc_tui.ui.edge_rows import SORTS, EdgeRows
from acdc_tui.ui.messages import EdgeChosen, HeaderClicked
from acdc_tui.ui.state import ExplorerState

STATE_STYLE = {"pending": Style(dim=True), "kept": Style(color="green"), "removed": Style(color="red"), "structural": Style(dim=True)}
FLAGS_STYLE = Style(color="yellow", bold=True)
RESELECT_S = 1.0


class EdgeGrid(ScrollView, can_focus=True):
    """Rows of `EdgeRows` under a fixed header line; a cursor row; draws only what is visible."""

    BINDINGS = [
        Binding("up", "cursor(-1)", show=False),
        Binding("down", "cursor(1)", show=False),
        Binding("pageup", "page(-1)", show=False),
        Binding("pagedown", "page(1)", show=False),
        Binding("home", "to(0)", show=False),
        Binding("end", "to(-1)", show=False),
    ]
    COMPONENT_CLASSES = {"edge-grid--header", "edge-grid--cursor", "edge-grid--stripe"}

    def __init__(self, rows: EdgeRows, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source = rows
        self.rows: list[int] = []
        self.cursor_row = 0

    @property
    def line_width(self) -> int:
        return sum(c.width + 1 for c in self.source.columns)

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def set_rows(self, rows: list[int], cursor_row: int = 0) -> None:
        self.rows = rows
        self.virtual_size = Size(self.line_width, len(rows) + 1)  # + the header line
        self.cursor_row = min(max(0, cursor_row), max(0, len(rows) - 1))
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        """Fit the columns to the width (80 columns drop the type column) and redraw."""
        self.source.width = self.scrollable_content_region.width
        self.virtual_size = Size(self.line_width, len(self.rows) + 1)
        self.refresh()

    def cursor_edge(self) -> Edge | None:
        return self.source.edges[self.rows[self.cursor_row]] if self.rows else None

    # ---- drawing ----

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:
            text = " ".join(f"{c.name:>{c.width}}" if c.right else f"{c.name:<{c.width}}" for c in self.source.columns)
            segments = [Segment(text, base + self.get_component_rich_style("edge-grid--header"))]
        else:
            index = scroll_y + y - 1
            if index >= len(self.rows):
                return Strip.blank(width, base)
            segments = self._row_segments(index, base)
        return Strip(segments).crop(scroll_x, scroll_x + width).adjust_cell_length(width, base)

    def _row_segments(self, index: int, base: Style) -> list[Segment]:
        texts, state = self.source.cells(self.rows[index])
        if index == self.cursor_row:
            base = base + self.get_component_rich_style("edge-grid--cursor")
        elif index % 2:
            base = base + self.get_component_rich_style("edge-grid--stripe")
        segments = []
        for col, text in zip(self.source.columns, texts):
            cell = f"{text:>{col.width}}" if col.right else f"{text:<{col.width}}"
            style = base + STATE_STYLE[state] if col.name == "state" else base + FLAGS_STYLE if col.name == "flags" else base
            segments += [Segment(cell[: col.width], style), Segment(" ", base)]
        return segments

    # ---- the cursor ----

    def move_cursor(self, row: int, announce: bool = True) -> None:
        if not self.rows:
            return
        self.cursor_row = min(max(0, row), len(self.rows) - 1)
        page = self._page()
        if self.cursor_row < self.scroll_y:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= self.scroll_y + page:
            self.scroll_to(y=self.cursor_row - page + 1, animate=False)
        self.refresh()
        if announce and self.has_focus:  # only the user's moves select
            self.post_message(EdgeChosen(self.cursor_edge()))

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor_row + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor_row + direction * self._page())

    def action_to(self, row: int) -> None:
        self.move_cursor(row if row >= 0 else len(self.rows) - 1)

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            self.post_message(HeaderClicked(event.x + int(self.scroll_x)))
        else:
            self.move_cursor(int(self.scroll_y) + event.y - 1)

    def on_focus(self, event: events.Focus) -> None:
        if self.rows:
            self.post_message(EdgeChosen(self.cursor_edge()))  # the row under the cursor is the selection


class EdgeTable(Vertical):
    BINDINGS = bindings("edges")

    def __init__(self, state: ExplorerState, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self.source = EdgeRows(state)
        self.sort_name, self.reverse = "visiting order", False
        self.filter_terms: list[str] = []
        self._stale = False

    def compose(self) -> ComposeResult:
        yield Input(placeholder="/ filter: words that must all match, e.g. 'a1.0 removed pinned'", id="edge-filter")
        yield EdgeGrid(self.source, id="edge-data")

    @property
    def table(self) -> EdgeGrid:
        return self.query_one(EdgeGrid)

    def on_mount(self) -> None:
        self.rebuild()
        self.set_interval(RESELECT_S, self._reselect_if_stale)

    # ---- rows ----

    def visible_edges(self) -> list[Edge]:
        return [self.source.edges[i] for i in self.table.rows]

    def rebuild(self) -> None:
        """Filter and sort again; the cursor stays on its edge if that edge still shows."""
        grid = self.table
        selected = grid.cursor_edge()
        rows = self.source.select(self.filter_terms, self.sort_name, self.reverse)
        position = {i: r for r, i in enumerate(rows)}
        keep = position.get(self.source.index[selected.key]) if selected is not None else None
        offset = grid.cursor_row - int(grid.scroll_y)
        grid.set_rows(rows, keep or 0)
        if keep is not None:
            grid.scroll_to(y=max(0, keep - offset), animate=False)
        self._stale = False
        self.border_title = f"{len(rows)} edges, sorted by {self.sort_name}{' (reversed)' if self.reverse else ''}"

    def update_edges(self, keys: set) -> None:
        """Some edges changed: redraw the visible rows; re-filter later if the selection depends on them."""
        if not keys:
            return
        self.source.note_changed(keys)
        if self.source.depends_on_state(self.filter_terms, self.sort_name):
            self._stale = True
        self.table.refresh()

    def _reselect_if_stale(self) -> None:
        if self._stale and self.table.is_on_screen:
            self.rebuild()

    # ---- selection ----

    def show_edge(self, edge: Edge) -> None:
        """Move the cursor to `edge` (if it passes the filter) without announcing it again."""
        i = self.source.index[edge.key]
        try:
            row = self.table.rows.index(i)
        except ValueError:
            return
        self.table.move_cursor(row, announce=False)

    def show_node(self, node: Node) -> None:
        """Move the cursor to the first row into `node` (else out of it), without announcing it."""
        edges = self.source.edges
        rows = self.table.rows
        for match in (lambda e: e.receiver == node, lambda e: e.sender == node):
            row = next((r for r, i in enumerate(rows) if match(edges[i])), None)
            if row is not None:
                self.table.move_cursor(row, announce=False)
                return

    # ---- filter and sort ----

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.filter_terms = event.value.lower().split()
        self.rebuild()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.table.focus()

    def action_cycle_sort(self) -> None:
        names = self.source.sort_names()
        self.sort_name = names[(names.index(self.sort_name) + 1) % len(names)]
        self.rebuild()

    def action_reverse_sort(self) -> None:
        self.reverse = not self.reverse
        self.rebuild()

    def on_header_clicked(self, message: HeaderClicked) -> None:
        """A click on a column's name sorts by it (again: reversed)."""
        x = 0
        for col in self.source.columns:
            if x <= message.x < x + col.width + 1:
                if col.name in SORTS:
                    if self.sort_name == col.name:
                        self.reverse = not self.reverse
                    else:
                        self.sort_name, self.reverse = col.name, False
                    self.rebuild()
                return
            x += col.width + 1
