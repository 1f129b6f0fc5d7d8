"""The Circuit tab: the circuit as a text DAG that stays readable at any size (see `circuit_layout`).

Keys (with the tab focused): `a` expands or aggregates the selected head or MLP, `A` all of them,
`d` shows or hides dead units, `f` toggles focus on the selected node, `[` / `]` fewer or more
hops around it. Drawn only while the tab is shown (a hidden tab costs nothing), in a worker thread.
"""

from __future__ import annotations

import time
from dataclasses import replace

from textual import work
from textual.binding import Binding
from textual.worker import get_current_worker

from acdc_tui.core.graph import Edge, Node
from acdc_tui.ui.circuit_layout import CircuitOptions, CircuitPicture, draw_circuit
from acdc_tui.ui.state import ExplorerState
from acdc_tui.ui.widgets.dag_view import DagView

KEYS = "f focus  [ ] hops  a expand/aggregate the selected head  A all  d dead units"


class CircuitView(DagView):
    BINDINGS = [
        Binding("a", "expand", "Expand", show=False),
        Binding("A", "expand_all", "Expand all", show=False),
        Binding("d", "toggle_dead", "Dead", show=False),
        Binding("f", "toggle_focus", "Focus", show=False),
        Binding("left_square_bracket", "hops(-1)", "Fewer hops", show=False),
        Binding("right_square_bracket", "hops(1)", "More hops", show=False),
    ]

    def __init__(self, state: ExplorerState, ascii_only: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state, self.ascii_only = state, ascii_only
        self.options = CircuitOptions()
        self.target: Node | Edge | None = None  # the app's selection
        self.picture: CircuitPicture | None = None
        self.dirty = True
        self.drawing = False  # a layout is under way in a worker
        self.drawn_options: CircuitOptions | None = None  # what the picture on screen was drawn with
        self._next_draw = 0.0

    # ---- drawing ----

    def focus_node(self) -> Node | None:
        """The unit focus mode centres on: the selection, else the run's current receiver, else the output."""
        if isinstance(self.target, Edge):
            return self.target.receiver
        if isinstance(self.target, Node):
            return self.target
        status = self.state.status
        return status.current_node if status is not None and not self.state.finished() else None

    def redraw(self, force: bool = False) -> None:
        """Draw again if something changed and the tab is on screen (or `force`: the user asked).

        The layout runs in a worker thread (a big picture takes a few tenths of a second), so keys and
        tabs stay responsive; the last picture stays on screen meanwhile. A picture that took t seconds
        is not redrawn for the run's progress before 4t have passed."""
        if not force and not (self.dirty and self.is_on_screen and time.monotonic() >= self._next_draw):
            return
        self.dirty = False
        self.drawing = True
        self._draw(self.options, self.focus_node())

    @work(thread=True, exclusive=True, group="circuit-layout", exit_on_error=False)
    def _draw(self, options: CircuitOptions, focus: Node | None) -> None:
        start = time.monotonic()
        picture = draw_circuit(self.state, options, focus, self.ascii_only)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_picture, picture, options, time.monotonic() - start)

    def _show_picture(self, picture: CircuitPicture, options: CircuitOptions, took: float) -> None:
        self.picture, self.drawn_options, self.drawing = picture, options, False
        header = [picture.header, KEYS]
        if not picture.dag.lines:
            header.append("no edges to draw" + ("" if options.show_dead else ": d shows dead units"))
        self.show(picture.dag, picture.states, header=header)
        self._highlight()
        if self.target is None and picture.focus is not None:
            self.scroll_to_label(picture.focus)
        self._next_draw = time.monotonic() + 4 * took

    def on_show(self) -> None:
        if self.dirty:
            self.redraw(force=True)

    def changed(self) -> None:
        self.dirty = True

    # ---- selection ----

    def show_selection(self, target: Node | Edge | None) -> None:
        """Follow the app's selection: highlight it; in focus, centre on it."""
        refocus = self.picture is not None and self.picture.scope.value == "focus" and self.picture.unit_of.get(_node(target)) != self.picture.focus
        self.target = target
        if refocus:
            self.redraw(force=True)
        else:
            self._highlight()

    def _highlight(self) -> None:
        if self.picture is None:
            return
        unit = self.picture.unit_of
        if isinstance(self.target, Edge):
            self.select(edge=(unit[self.target.sender], unit[self.target.receiver]))
        elif isinstance(self.target, Node):
            self.select(node=unit[self.target])

    # ---- keys ----

    def _set(self, **changes) -> None:
        self.options = replace(self.options, **changes)
        self.redraw(force=True)

    def action_expand(self) -> None:
        node = _node(self.target)
        if node is None:
            self.app.notify("Select a head or an MLP first (Overview, side bar, or the Edges tab).", severity="warning")
            return
        label = self.state.cells.map.cell_of[node].label
        self._set(expanded=self.options.expanded ^ {label})

    def action_expand_all(self) -> None:
        self._set(expand_all=not self.options.expand_all, expanded=frozenset())

    def action_toggle_dead(self) -> None:
        self._set(show_dead=not self.options.show_dead)

    def action_toggle_focus(self) -> None:
        self._set(focus_mode=not self.options.focus_mode)

    def action_hops(self, delta: int) -> None:
        self._set(hops=max(1, self.options.hops + delta))


def _node(target: Node | Edge | None) -> Node | None:
    return target.receiver if isinstance(target, Edge) else target
