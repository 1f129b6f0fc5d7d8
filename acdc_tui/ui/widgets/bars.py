"""Title bar (what is being run) and status bar (how the run is going)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from acdc_tui.runs.driver import RunStatus
from acdc_tui.runs.progress import format_duration

MODE_STYLE = {"running": "black on green", "stepping": "black on cyan", "paused": "black on yellow", "finished": "black on blue", "loading": "black on magenta", "viewing": "black on blue", "error": "white on red", "past": "black on bright_white", "stopped": "black on yellow", "crashed": "white on red", "failed": "white on red"}


def status_text(status: RunStatus | None, mode: str | None = None, ascii_only: bool = False, where: str = "") -> Text:
    """`where`: a note after the mode, e.g. the event time travel stands at."""
    mode = mode or (status.mode if status else "loading")
    t = Text()
    t.append(f" {mode.upper()}{' ' + where if where else ''} ", style=MODE_STYLE.get(mode, "reverse"))
    if status is None:
        return t
    sep = " | " if ascii_only else " │ "
    metric = "—" if status.current_metric is None else f"{status.current_metric:.6g}"
    parts = [
        f"{status.done}/{status.total} edges",
        f"kept {status.kept}",
        f"metric {metric}",
        f"τ {status.threshold:g}",
        f"{status.rate:.1f} edges/s",
        f"elapsed {format_duration(status.elapsed)}",
        f"ETA {format_duration(status.eta) if status.mode != 'finished' else '0:00'}",
    ]
    if status.current_node is not None and status.mode != "finished":
        parts.insert(3, f"at {status.current_node.label}")
    t.append(" " + sep.join(parts))
    return t


class OneLineBar(Static):
    """A line whose size never depends on its text: updating it repaints the line, no layout pass
    (a layout pass repaints the whole screen, which costs 0.1 s at GPT-2 scale, many times a second)."""

    def update(self, content="", *, layout: bool = False) -> None:
        super().update(content, layout=layout)


class StatusBar(OneLineBar):
    DEFAULT_CSS = "StatusBar { height: 1; width: 1fr; background: $panel; }"


class TitleBar(OneLineBar):
    DEFAULT_CSS = "TitleBar { height: 1; width: 1fr; background: $primary-background; color: $text; text-style: bold; }"
