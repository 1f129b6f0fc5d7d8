"""The Circuit tab: the current subgraph as a text DAG, scrollable both ways, selection highlighted."""

from __future__ import annotations

from rich.style import Style

from acdc_tui.ui.dag_render import DagText
from acdc_tui.ui.widgets.lines_view import LinesView, Span

NODE_STYLES = {
    "current": Style(color="black", bgcolor="yellow", bold=True),
    "alive": Style(color="green", bold=True),
    "pending": Style(bold=True),
    "dead": Style(color="red", strike=True),
    "overridden": Style(color="yellow", bold=True),
}
HEADER = Style(dim=True)
SELECTED = Style(reverse=True, bold=True)
SELECTED_EDGE = Style(color="yellow", bold=True)


class DagView(LinesView):
    """Shows a `DagText`; node labels coloured by state, the selected node or edge highlighted."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.dag = DagText([])
        self.node_states: dict[str, str] = {}
        self.selected_node: str | None = None
        self.selected_edge: tuple[str, str] | None = None
        self._line_spans: dict[int, list[Span]] = {}

    def show(self, dag: DagText, node_states: dict[str, str], message: str | None = None, header: list[str] = ()) -> None:
        """Draw `dag` (or one line of `message`) under `header` lines that stay in view."""
        self.dag, self.node_states = dag, node_states
        self.pinned, self.pinned_style = list(header), HEADER
        self.set_lines([message] if message else dag.lines)
        self._index_spans()

    def select(self, node: str | None = None, edge: tuple[str, str] | None = None) -> None:
        self.selected_node, self.selected_edge = node, edge
        self._index_spans()
        self.refresh()
        self.scroll_to_label(node or (edge[0] if edge else None))

    def scroll_to_label(self, label: str | None) -> None:
        """Scroll so that `label` is on screen (about a third from the left, mid-height) if it is not."""
        if label in self.dag.node_spans:
            line, start, end = self.dag.node_spans[label]
            width, height = self.scrollable_content_region.width, self.visible_lines
            self.scroll_to(
                x=max(0, start - width // 3) if not (self.scroll_x <= start and end <= self.scroll_x + width) else None,
                y=max(0, line - height // 2) if not (self.scroll_y <= line < self.scroll_y + height) else None,
                animate=False,
            )

    def _index_spans(self) -> None:
        spans: dict[int, list[Span]] = {}
        for label, (line, start, end) in self.dag.node_spans.items():
            style = SELECTED if label == self.selected_node else NODE_STYLES.get(self.node_states.get(label, ""), Style())
            spans.setdefault(line, []).append((start, end, style))
        if self.selected_edge in self.dag.edge_cells:
            for line, col in self.dag.edge_cells[self.selected_edge]:
                spans.setdefault(line, []).append((col, col + 1, SELECTED_EDGE))
            for label in self.selected_edge:
                if label in self.dag.node_spans:
                    line, start, end = self.dag.node_spans[label]
                    spans[line] = [s for s in spans[line] if s[0] != start] + [(start, end, SELECTED)]
        self._line_spans = spans

    def spans(self, index: int) -> list[Span]:
        return self._line_spans.get(index, [])
