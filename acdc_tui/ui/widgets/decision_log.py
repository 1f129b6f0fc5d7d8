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
    """Append-only; draws only the visible lines."""

    def add_events(self, events: tuple[Event, ...] | list[Event]) -> None:
        # One append per run of equally styled lines keeps a 10,000-event batch cheap.
        run: list[str] = []
        current = None
        for ev in events:
            kind = event_style(ev)
            if kind != current and run:
                self.append(run, STYLES[current])
                run = []
            current = kind
            run.extend(format_event(ev))
        if run:
            self.append(run, STYLES[current])

    def add_note(self, text: str) -> None:
        self.append([text], STYLES["error" if text.startswith("error") else "note"])
