"""The Edges tab: every edge with its state, sortable (s / S) and filterable (/)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input

from acdc_tui.core.graph import Edge
from acdc_tui.ui.state import ExplorerState, edge_flags, edge_state, format_delta

COLUMNS = ("step", "sender", "receiver", "type", "state", "Δ", "flags")
WIDTHS = (6, 12, 12, 18, 10, 11, 13)  # fixed: cells change as the run goes
STATE_STYLE = {"pending": "dim", "kept": "green", "removed": "red", "structural": "dim"}
REBUILD_OVER = 400  # past this many changed rows, rebuilding is cheaper than cell updates


def _none_last(x):
    return (x is None, x if x is not None else 0)


SORTS: dict[str, Callable] = {
    "visiting order": None,
    "Δ": lambda e, v: _none_last(-v.delta if v.delta is not None else None),
    "step": lambda e, v: _none_last(v.seq),
    "sender": lambda e, v: e.sender.label,
    "receiver": lambda e, v: e.receiver.label,
    "state": lambda e, v: edge_state(e, v),
}


@dataclass
class EdgeChosen(Message):
    edge: Edge


class EdgeTable(Vertical):
    BINDINGS = [
        Binding("s", "cycle_sort", "Sort"),
        Binding("S", "reverse_sort", "Reverse", show=False),
    ]
    DEFAULT_CSS = """
    EdgeTable Input { height: 1; border: none; padding: 0 1; background: $boost; }
    EdgeTable DataTable { height: 1fr; }
    """

    def __init__(self, state: ExplorerState, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self.sort_name, self.reverse = "visiting order", False
        self.filter_terms: list[str] = []
        self.index = {e.key: i for i, e in enumerate(state.graph.edges)}
        self._syncing = False

    def compose(self) -> ComposeResult:
        yield Input(placeholder="/ filter: words that must all match, e.g. 'a1.0 removed pinned'", id="edge-filter")
        table = DataTable(id="edge-data", cursor_type="row", zebra_stripes=True)
        for c, w in zip(COLUMNS, WIDTHS):
            table.add_column(c, key=c, width=w)
        yield table

    @property
    def table(self) -> DataTable:
        return self.query_one(DataTable)

    def on_mount(self) -> None:
        self.rebuild()

    # ---- rows ----

    def row(self, e: Edge) -> tuple:
        v = self.state.view(e)
        state = edge_state(e, v)
        return (
            "" if v.seq is None else str(v.seq),
            e.sender.label,
            e.receiver.label,
            e.type.value,
            Text(state, style=STATE_STYLE[state]),
            Text(format_delta(v.delta), justify="right"),
            Text(edge_flags(v), style="yellow bold"),
        )

    def _matches(self, e: Edge) -> bool:
        if not self.filter_terms:
            return True
        v = self.state.view(e)
        hay = f"{e.sender.label} {e.receiver.label} {e.sender} {e.receiver} {e.type.value} {edge_state(e, v)} {edge_flags(v)} {v.decided_by or ''}".lower()
        return all(t in hay for t in self.filter_terms)

    def visible_edges(self) -> list[Edge]:
        edges = [e for e in self.state.graph.edges if self._matches(e)]
        key = SORTS[self.sort_name]
        if key is not None:
            edges.sort(key=lambda e: key(e, self.state.view(e)))
        if self.reverse:
            edges.reverse()
        return edges

    def rebuild(self) -> None:
        table = self.table
        selected = self._cursor_edge()
        edges = self.visible_edges()
        self._syncing = True
        try:
            table.clear()
            for e in edges:
                table.add_row(*self.row(e), key=str(self.index[e.key]))
        finally:
            self._syncing = False
        self._shown = {str(self.index[e.key]): e for e in edges}
        if selected is not None:
            self.show_edge(selected)
        self.border_title = f"{len(edges)} edges, sorted by {self.sort_name}{' (reversed)' if self.reverse else ''}"

    def update_edges(self, keys: set) -> None:
        rows = [str(self.index[k]) for k in keys if str(self.index[k]) in self._shown]
        if len(rows) > REBUILD_OVER:
            self.rebuild()
            return
        table = self.table
        for row_key in rows:
            for col, value in zip(COLUMNS, self.row(self._shown[row_key])):
                table.update_cell(row_key, col, value)

    # ---- selection ----

    def _cursor_edge(self) -> Edge | None:
        table = self.table
        if not getattr(self, "_shown", None) or table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key((min(table.cursor_row, table.row_count - 1), 0))
        return self._shown.get(row_key.value)

    def show_edge(self, edge: Edge) -> None:
        """Move the cursor to `edge` (if it passes the filter) without announcing it again."""
        key = str(self.index[edge.key])
        if key not in self._shown:
            return
        self._syncing = True
        try:
            self.table.move_cursor(row=self.table.get_row_index(key), animate=False)
        finally:
            self._syncing = False

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if self._syncing or event.row_key is None or not self.table.has_focus:  # only the user's moves select
            return
        edge = self._shown.get(event.row_key.value)
        if edge is not None:
            self.post_message(EdgeChosen(edge))

    def on_descendant_focus(self, event) -> None:
        if event.widget is self.table and (edge := self._cursor_edge()) is not None:
            self.post_message(EdgeChosen(edge))  # the row under the cursor is the selection

    # ---- filter and sort ----

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.filter_terms = event.value.lower().split()
        self.rebuild()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.table.focus()

    def action_cycle_sort(self) -> None:
        names = list(SORTS)
        self.sort_name = names[(names.index(self.sort_name) + 1) % len(names)]
        self.rebuild()

    def action_reverse_sort(self) -> None:
        self.reverse = not self.reverse
        self.rebuild()
