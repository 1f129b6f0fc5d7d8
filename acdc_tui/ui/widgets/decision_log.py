"""The bottom panel's decision log: the reference-format lines, coloured by decision."""

from __future__ import annotations

from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from acdc_tui.core.events import EdgeForced, EdgeTested, Event, NodeEntered, NodeSkipped, OverrideApplied, RunFinished, ThresholdChanged
from acdc_tui.io.reference_log import format_event
from acdc_tui.ui.widgets.lines_view import LinesView, _segments

CONTINUATION = "    "  # the start of a wrapped line's further rows


def wrap_slices(text: str, width: int) -> list[tuple[int, int]]:
    """[start, end) slices of `text` that fit `width` columns (rows after the first are indented),
    broken after a space where one falls in the second half of the row."""
    if len(text) <= width:
        return [(0, len(text))]
    out, start, room = [], 0, width
    while len(text) - start > room:
        end = start + room
        space = text.rfind(" ", start + room // 2, end)
        end = space + 1 if space > 0 else end
        out.append((start, end))
        start, room = end, width - len(CONTINUATION)
    out.append((start, len(text)))
    return out

STYLES = {
    "removed": Style(color="red"),
    "kept": Style(color="green"),
    "pinned": Style(color="yellow", bold=True),
    "forced": Style(color="magenta"),
    "node": Style(color="cyan"),
    "note": Style(color="yellow"),
    "error": Style(color="red", bold=True),
    "plain": None,
}
MARK = Style(reverse=True)  # the event time travel stands at


def event_style(ev: Event) -> str:
    if isinstance(ev, EdgeTested):
        return "pinned" if ev.pinned else "removed" if ev.removed else "kept"
    if isinstance(ev, EdgeForced):
        return "forced"
    if isinstance(ev, (NodeEntered, NodeSkipped)):
        return "node"
    if isinstance(ev, (OverrideApplied, ThresholdChanged, RunFinished)):
        return "note"
    return "plain"


class DecisionLog(LinesView):
    """Append-only; draws only the visible lines. Remembers where each event's lines start, so time
    travel can show (and mark) the lines of the event it stands at.

    Long lines wrap on screen (soft: `lines` keeps each log line whole): nothing is cut at the
    panel's edge (`1.56e-26`, not `…e-2`). Rows are (line, start, end) slices, extended as lines
    come and rebuilt when the width changes."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.event_lines: dict[int, tuple[int, int]] = {}  # event seq -> (first line, line count)
        self.marked: tuple[int, int] | None = None
        self.rows: list[tuple[int, int, int]] = []  # screen row -> (line, start, end)
        self.first_row: list[int] = []  # line -> its first screen row
        self._wrap_width = 0

    # ---- soft wrap ----

    def _width_now(self) -> int:
        """The room for text: the panel less its scroll bar (shown or soon shown); the window's before the first layout."""
        return max(20, (self.size.width or self.app.size.width) - self.styles.scrollbar_size_vertical - 1)

    def _wrap_from(self, first_line: int) -> None:
        width = self._wrap_width
        for index in range(first_line, len(self.lines)):
            self.first_row.append(len(self.rows))
            self.rows += [(index, a, b) for a, b in wrap_slices(self.lines[index], width)]

    def _rewrap(self) -> None:
        self._wrap_width = self._width_now()
        self.rows, self.first_row = [], []
        self._wrap_from(0)

    def append(self, lines: list[str], style=None) -> None:
        first = len(self.lines)
        self.lines.extend(lines)
        self.styles_.extend([style] * len(lines))
        if not self._wrap_width:
            self._wrap_width = self._width_now()
        self._wrap_from(first)
        self._resize()
        if self._follow:
            self.call_after_refresh(self._to_end)

    def on_resize(self) -> None:
        if self._width_now() != self._wrap_width:
            self._rewrap()
            self._resize()

    def _resize(self) -> None:
        size = Size(self._wrap_width, len(self.rows))
        if size != self.virtual_size:
            self.set_reactive(Widget.virtual_size, size)  # not a layout pass: see LinesView._resize
            self._scroll_update(size)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width, base = self.scrollable_content_region.width, self.rich_style
        row = scroll_y + y
        if row >= len(self.rows):
            return Strip.blank(width, base)
        index, start, end = self.rows[row]
        style = base + self.styles_[index] if self.styles_[index] else base
        indent = CONTINUATION if start else ""
        spans = [(max(a, start) - start + len(indent), min(b, end) - start + len(indent), st) for a, b, st in self.spans(index) if a < end and b > start]
        segments = _segments(indent + self.lines[index][start:end], style, spans)
        return Strip(segments).crop(scroll_x, scroll_x + width).adjust_cell_length(width, base)

    def add_events(self, events: tuple[Event, ...] | list[Event]) -> None:
        # One append per run of equally styled lines keeps a 10,000-event batch cheap.
        run: list[str] = []
        current = None
        start = len(self.lines)
        for ev in events:
            kind = event_style(ev)
            if kind != current and run:
                self.append(run, STYLES[current])
                start += len(run)
                run = []
            current = kind
            lines = format_event(ev)
            if lines:
                self.event_lines[ev.seq] = (start + len(run), len(lines))
            run.extend(lines)
        if run:
            self.append(run, STYLES[current])

    def show_event(self, seq: int | None) -> None:
        """Mark the lines of event `seq` (the last event with lines at or before it) and scroll to
        them; None: no mark, follow the end again."""
        if seq is None:
            self.marked = None
            self._to_end()
            self.refresh()
            return
        known = [s for s in self.event_lines if s <= seq]
        self.marked = self.event_lines[max(known)] if known else None
        if self.marked is not None:
            first, count = self.marked
            self._follow = False
            last = self.first_row[first + count - 1] if first + count - 1 < len(self.first_row) else len(self.rows)
            self.scroll_to(y=max(0, last - self.visible_lines // 2), animate=False)
        self.refresh()

    def spans(self, index: int) -> list:
        if self.marked is not None and self.marked[0] <= index < self.marked[0] + self.marked[1]:
            return [(0, len(self.lines[index]), MARK)]
        return []

    def add_note(self, text: str) -> None:
        self.append([text], STYLES["error" if text.startswith("error") else "note"])
