"""The key bar shows its keys from the first frame even when the app starts without the focus, as a
page served by `acdc-tui serve` does until its first click (Textual's Footer stays empty then)."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer

from acdc_tui.ui.widgets.key_bar import KeyBar


def _app(bar: type[Footer]) -> App:
    class Unfocused(App):
        BINDINGS = [Binding("f1", "help", "Help"), Binding("q", "quit", "Quit")]

        def on_mount(self) -> None:
            self.app_focus = False  # a browser page before its first click

        def compose(self) -> ComposeResult:
            yield bar()

    return Unfocused()


@pytest.mark.parametrize("bar, keys", [(KeyBar, ["Help", "Quit", "palette"]), (Footer, [])])
async def test_the_key_bar_is_drawn_without_the_app_focus(bar, keys):
    app = _app(bar)
    async with app.run_test() as pilot:
        await pilot.pause()
        await pilot.pause()
        assert app.app_focus is False
        shown = [getattr(key, "description", None) for key in app.query_one(bar).query("*")]
        assert [text for text in shown if text] == keys
