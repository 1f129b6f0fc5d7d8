"""The key bar: Textual's Footer, drawn even while the app does not have the focus.

Textual's Footer leaves its keys out until the app has the focus (`app_focus`), so that a terminal
window losing the focus does not redraw the bar. In a browser (`acdc-tui serve`) the page starts
without sending a focus event, so the bar stayed empty until the first click or key press. The keys
are the same with or without the focus here, so the bar is drawn whenever the bindings change.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeyBar(Footer):
    def bindings_changed(self, screen: Screen) -> None:
        super().bindings_changed(screen)
        if not screen.app.app_focus and self.is_attached and screen is self.screen:
            self.call_after_refresh(self.recompose)  # what Footer does when the app has the focus
