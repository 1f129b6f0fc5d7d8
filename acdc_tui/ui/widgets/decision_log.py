"""The bottom panel's decision log: the reference-format lines, coloured by decision."""

from __future__ import annotations

from rich.style import Style

from acdc_tui.core.events import EdgeForced, EdgeTested, Event, NodeEntered, NodeSkipped, OverrideApplied, RunFinished, ThresholdChanged
from acdc_tui.io.reference_log import format_event
from acdc_tui.ui.widgets.lines_view import LinesView

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
    travel can show (and mark) the lines of the event it stands at."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.event_lines: dict[int, tuple[int, int]] = {}  # event seq -> (first line, line count)
        self.marked: tuple[int, int] | None = None

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
            self.scroll_to(y=max(0, first + count - self.visible_lines // 2), animate=False)
        self.refresh()

    def spans(self, index: int) -> list:
        if self.marked is not None and self.marked[0] <= index < self.marked[0] + self.marked[1]:
            return [(0, len(self.lines[index]), MARK)]
        return []

    def add_note(self, text: str) -> None:
        self.append([text], STYLES["error" if text.startswith("error") else "note"])
