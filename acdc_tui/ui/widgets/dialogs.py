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
    DEFAULT_CSS = """
    Prompt { align: center middle; }
    Prompt > Vertical { width: 70; max-width: 95%; height: auto; border: round $accent; background: $surface; padding: 0 1; }
    Prompt #prompt-error { color: $error; height: auto; }
    """

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
        Binding("l", "choose('leave')", "Leave running"),
        Binding("x", "choose('stop')", "Stop the run"),
        Binding("s", "choose('save')", "Export, stop and quit"),
        Binding("n,escape", "choose('stay')", "Stay"),
    ]
    DEFAULT_CSS = """
    ConfirmQuit { align: center middle; }
    ConfirmQuit > Vertical { width: 64; max-width: 95%; height: auto; border: round $warning; background: $surface; padding: 0 1; }
    """

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.message)
            yield Static(
                "[b]l[/b] leave it running in the background and quit\n"
                "[b]x[/b] stop the run (its partial circuit is saved) and quit\n"
                "[b]s[/b] export the circuit JSON (--out), then stop the run and quit\n"
                "[b]n[/b]/esc stay"
            )

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 76; max-width: 98%; height: auto; max-height: 95%; border: round $accent; background: $surface; padding: 0 1; overflow-y: auto; }
    """

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
    DEFAULT_CSS = """
    Choose { align: center middle; }
    Choose > Vertical { width: 100; max-width: 95%; height: auto; max-height: 80%; border: round $accent; background: $surface; padding: 0 1; }
    Choose OptionList { height: auto; max-height: 20; }
    """

    def __init__(self, title: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_, self.choices = title, choices

    def compose(self) -> ComposeResult:
        from textual.widgets import OptionList

        with Vertical():
            yield Label(self.title_)
            yield OptionList(*[label for _, label in self.choices], id="choices")
            yield Static("(enter: choose, esc: cancel)", classes="dim")

    def on_option_list_option_selected(self, event) -> None:
        self.dismiss(self.choices[event.option_index][0])

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextScreen(ModalScreen[None]):
    """A long text to read (a diff): scrolls; escape or q closes it."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close")]
    DEFAULT_CSS = """
    TextScreen { align: center middle; }
    TextScreen > VerticalScroll { width: 96%; height: 90%; border: round $accent; background: $surface; padding: 0 1; }
    """

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        from rich.text import Text
        from textual.containers import VerticalScroll

        with VerticalScroll():
            yield Static(Text(self.text))

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
