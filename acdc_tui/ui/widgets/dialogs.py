"""Modal screens: a one-line input (τ, export path), the quit question, the key help."""

from __future__ import annotations

from typing import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static


class Prompt(ModalScreen[str | None]):
    """Ask for one value; `check` returns an error message or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, value: str, check: Callable[[str], str | None], help: str = "") -> None:
        super().__init__()
        self.title_, self.value, self.check, self.help = title, value, check, help

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_)
            yield Input(self.value, id="prompt-input")
            yield Static(self.help + "  (enter: ok, esc: cancel)", classes="dim")
            yield Static("", id="prompt-error")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        error = self.check(event.value)
        if error:
            self.query_one("#prompt-error", Static).update(error)
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmQuit(ModalScreen[str]):
    """A run is in progress: leave it running in the background, stop it, save a copy, or stay."""

    BINDINGS = [
        Binding("l", "choose('leave')", "Leave it"),
        Binding("x", "choose('stop')", "Stop the run"),
        Binding("s", "choose('save')", "Export, stop and quit"),
        Binding("n,escape", "choose('stay')", "Stay"),
    ]

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.message)
            yield Static(
                "[b]l[/b] leave it as it is in the background (a paused run stays paused) and quit\n"
                "[b]x[/b] stop the run (its partial circuit is saved) and quit\n"
                "[b]s[/b] stop the run, export the stopped run's circuit beside its journal, and quit\n"
                "[b]n[/b]/esc stay"
            )

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)


class Confirm(ModalScreen[bool]):
    """A yes/no question: y writes, n or escape does not."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        from rich.text import Text

        with Vertical():
            yield Static(Text(self.message))
            yield Static("[b]y[/b] yes   [b]n[/b]/esc no")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.text)

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)


class Choose(ModalScreen[str | None]):
    """Pick one of several (value, label) choices with the arrows and enter."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, choices: list[tuple[str, str]], start: int = 0) -> None:
        super().__init__()
        self.title_, self.choices, self.start = title, choices, start

    def compose(self) -> ComposeResult:
        from textual.widgets import OptionList

        with Vertical():
            yield Label(self.title_)
            yield OptionList(*[label for _, label in self.choices], id="choices")
            yield Static("(enter: choose, esc: cancel)", classes="dim")

    def on_mount(self) -> None:
        from textual.widgets import OptionList

        self.query_one("#choices", OptionList).highlighted = self.start

    def on_option_list_option_selected(self, event) -> None:
        self.dismiss(self.choices[event.option_index][0])

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextScreen(ModalScreen[None]):
    """A long text to read (a diff): scrolls both ways, rows never wrap; escape or q closes it."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        from rich.text import Text
        from textual.containers import ScrollableContainer

        with ScrollableContainer():  # long rows scroll sideways (left / right), never wrap
            yield Static(Text(self.text.rstrip("\n"), no_wrap=True, overflow="ignore"))

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
