"""A scrollable view of many text lines that renders only the visible ones (Textual's line API).

Appending is O(1) and drawing costs the screen height, not the number of lines, so the decision
log stays fast over hundreds of thousands of lines and a wide DAG scrolls in both directions.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

Span = tuple[int, int, Style]  # start column, end column, style over the line's own style


class LinesView(ScrollView, can_focus=True):

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.lines: list[str] = []
        self.styles_: list[Style | None] = []
        self._width = 0
        self._follow = True  # stick to the bottom until the user scrolls up
        self.pinned: list[str] = []  # lines fixed at the top: they do not scroll
        self.pinned_style: Style | None = None

    def set_lines(self, lines: list[str], styles: list[Style | None] | None = None) -> None:
        self.lines = list(lines)
        self.styles_ = list(styles) if styles is not None else [None] * len(self.lines)
        self._width = max((len(l) for l in self.lines), default=0)
        self._resize()

    def append(self, lines: list[str], style: Style | None = None) -> None:
        """Add lines at the end; stay at the bottom if the view was there (like `tail -f`)."""
        self.lines.extend(lines)
        self.styles_.extend([style] * len(lines))
        self._width = max(self._width, max((len(l) for l in lines), default=0))
        self._resize()
        if self._follow:
            self.call_after_refresh(self._to_end)

    def _to_end(self) -> None:
        self.scroll_to(y=self.max_scroll_y, animate=False)
        self._follow = True

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._follow = new >= self.max_scroll_y

    def pin(self, lines: list[str], style: Style | None = None) -> None:
        """Fix `lines` above the scrolling ones (a header that stays in view)."""
        self.pinned, self.pinned_style = list(lines), style
        self._resize()

    @property
    def visible_lines(self) -> int:
        """How many of the scrolling lines fit under the pinned ones."""
        return max(0, self.scrollable_content_region.height - len(self.pinned))

    def _resize(self) -> None:
        size = Size(max(self._width, max((len(l) for l in self.pinned), default=0)), len(self.lines) + len(self.pinned))
        if size != self.virtual_size:
            # Not `self.virtual_size = size`: that lays out the whole screen (0.1 s at GPT-2 scale) on
            # every append. Only the scrollbars need to know; they lay out again if they appear or go.
            self.set_reactive(Widget.virtual_size, size)
            self._scroll_update(size)
        self.refresh()

    def spans(self, index: int) -> list[Span]:
        """Extra styled ranges of line `index` (subclasses highlight with this)."""
        return []

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y < len(self.pinned):
            style = base + self.pinned_style if self.pinned_style else base
            return Strip([Segment(self.pinned[y], style)]).crop(0, width).adjust_cell_length(width, base)
        index = scroll_y + y - len(self.pinned)
        if index >= len(self.lines):
            return Strip.blank(width, base)
        text = self.lines[index]
        style = base + self.styles_[index] if self.styles_[index] else base
        segments = _segments(text, style, self.spans(index))
        return Strip(segments).crop(scroll_x, scroll_x + width).adjust_cell_length(width, base)


def _segments(text: str, style: Style, spans: list[Span]) -> list[Segment]:
    if not spans:
        return [Segment(text, style)]
    out, pos = [], 0
    for start, end, extra in sorted(spans, key=lambda s: s[0]):
        start, end = max(start, pos), min(end, len(text))
        if start >= end:
            continue
        if start > pos:
            out.append(Segment(text[pos:start], style))
        out.append(Segment(text[start:end], style + extra))
        pos = end
    if pos < len(text):
        out.append(Segment(text[pos:], style))
    return out
