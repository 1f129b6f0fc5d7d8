"""Title bar (what is being run) and status bar (how the run is going)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from acdc_tui.runs.driver import RunStatus
from acdc_tui.runs.progress import format_duration

MODE_STYLE = {"running": "black on green", "stepping": "black on cyan", "paused": "black on yellow", "finished": "black on blue", "loading": "black on magenta", "viewing": "black on blue", "error": "white on red", "past": "black on bright_white", "stopped": "black on yellow", "crashed": "white on red", "failed": "white on red"}


# What goes first when the bar is too narrow (80 columns): decided/total and the ETA always stay
DROP_ORDER = ("elapsed", "rate", "τ", "at", "metric", "kept")


def status_text(status: RunStatus | None, mode: str | None = None, ascii_only: bool = False, where: str = "", width: int | None = None) -> Text:
    """`where`: a note after the mode, e.g. the event time travel stands at; `width`: drop parts (DROP_ORDER) to fit."""
    mode = mode or (status.mode if status else "loading")
    t = Text()
    t.append(f" {mode.upper()}{' ' + where if where else ''} ", style=MODE_STYLE.get(mode, "reverse"))
    if status is None:
        return t
    sep = " | " if ascii_only else " │ "
    metric = "—" if status.current_metric is None else f"{status.current_metric:.6g}"
    parts = {
        "done": f"{status.done}/{status.total} edges",
        "kept": f"kept {status.kept}",
        "metric": f"metric {metric}",
        "at": f"at {status.current_node.label}" if status.current_node is not None and status.mode != "finished" else "",
        "τ": f"τ {status.threshold:g}",
        "rate": f"{status.rate:.1f} edges/s",
        "elapsed": f"elapsed {format_duration(status.elapsed)}",
        "eta": f"ETA {format_duration(status.eta) if status.mode != 'finished' else '0:00'}",
    }
    parts = {k: v for k, v in parts.items() if v}
    for name in DROP_ORDER:
        if width is None or len(t.plain) + 1 + len(sep.join(parts.values())) <= width:
            break
        parts.pop(name, None)
    t.append(" " + sep.join(parts.values()))
    return t


class OneLineBar(Static):
    """A line whose size never depends on its text: updating it repaints the line, no layout pass
    (a layout pass repaints the whole screen, which costs 0.1 s at GPT-2 scale, many times a second)."""

    def update(self, content="", *, layout: bool = False) -> None:
        super().update(content, layout=layout)


class StatusBar(OneLineBar):
    """The run's status, fitted to the bar's width (decided/total and the ETA always shown)."""

    _shown: tuple = (None, "loading", False, "")

    def show(self, status: RunStatus | None, mode: str | None = None, ascii_only: bool = False, where: str = "") -> None:
        self._shown = (status, mode, ascii_only, where)
        self.update(status_text(status, mode, ascii_only, where, width=self.size.width or None))

    def on_resize(self) -> None:
        self.show(*self._shown)


class TitleBar(OneLineBar):
    """What is being run: task, model shape, τ, metric, ablation, device, engine."""
