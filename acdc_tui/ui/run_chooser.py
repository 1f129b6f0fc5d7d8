"""`acdc-tui attach` with several live runs: pick one with the arrows and enter (the most recently active first)."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Label, OptionList

from acdc_tui.ui.widgets.key_bar import KeyBar


class RunChooser(App[Path | None]):
    """Returns the chosen journal, or None (escape / q)."""

    BINDINGS = [Binding("escape,q", "cancel", "Cancel")]

    def __init__(self, runs: list[tuple[Path, str]]) -> None:
        super().__init__()
        self.runs = runs

    def compose(self) -> ComposeResult:
        yield Label(f"{len(self.runs)} runs are live. Attach to which? (most recently active first; enter: attach, esc: cancel)")
        yield OptionList(*[line for _, line in self.runs], id="runs")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#runs", OptionList).highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.exit(self.runs[event.option_index][0])

    def action_cancel(self) -> None:
        self.exit(None)
