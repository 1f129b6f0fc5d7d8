"""The Circuit tab: the kept circuit, readable at any size, and still while the run goes on.

Three views of one snapshot of the state (`v` cycles):

- **paths**: the strongest input → output paths through the kept heads and MLPs, ranked
  (`circuit_paths`); after a jump, the strongest paths through that unit.
- **matrix**: kept edges counted by sender and receiver layer, then every kept unit by layer.
- **graph**: the DAG (`circuit_layout`): the whole circuit when it is small, else the neighbourhood
  of the jumped-to or selected unit (else the output), the strongest edges per unit.

Stable: the picture is a snapshot. While the run goes, it is not redrawn (the header says how far
the run has moved on) until `u`, or with `l` (follow) on, when it is redrawn as the run goes and the
graph centres on the live receiver. When the run is paused or finished, or the user steps, pins or
moves in time, the picture is updated. Only what lies on a kept path from an input to the output is
drawn (`circuit_paths.live_edges`: dangling pins excluded). Drawn only while the tab is shown, in a
worker thread.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from enum import Enum

from rich.style import Style
from textual import work
from textual.binding import Binding
from textual.worker import get_current_worker

from acdc_tui.core.graph import Edge, Node
from acdc_tui.runs.driver import RUNNING
from acdc_tui.ui.circuit_layout import CircuitOptions, CircuitPicture, draw_circuit
from acdc_tui.ui.circuit_pages import matrix_page, paths_page
from acdc_tui.ui.circuit_paths import KeptCircuit, PathFinder, Weight, kept_circuit, layer_matrix, live_edges, unit_label
from acdc_tui.ui.dag_render import DagText
from acdc_tui.ui.state import ExplorerState
from acdc_tui.ui.widgets.dag_view import NODE_STYLES, SELECTED, DagView
from acdc_tui.ui.widgets.lines_view import Span


class View(str, Enum):
    PATHS = "paths"
    MATRIX = "matrix"
    GRAPH = "graph"


# (key, action, title, help): the Circuit tab's keys, for the bindings and the app's help and palette
CIRCUIT_ACTIONS = [
    ("v", "next_view", "View", "Circuit: next view (strongest paths, layer matrix, graph)"),
    ("u", "update", "Update", "Circuit: redraw with the run's current state (the picture holds still otherwise)"),
    ("l", "toggle_follow", "Follow", "Circuit: follow the run live (redraw as it goes, graph on the current receiver)"),
    ("j", "ask_jump", "Jump", "Circuit: jump to a head, MLP or hook point by name (paths through it)"),
    ("enter", "through_selection", "Through", "Circuit: the strongest paths through the selected unit"),
    ("backspace", "clear_through", "All paths", "Circuit: all paths again (clear the jump)"),
    ("W", "toggle_weight", "Weight", "Circuit: rank paths by |Δ| or by attribution score (when loaded)"),
    ("minus", "more(-1)", "Fewer", "Circuit: fewer paths listed, or fewer edges per unit in the graph"),
    ("plus", "more(1)", "More", "Circuit: more paths listed, or more edges per unit in the graph"),
    ("a", "expand", "Expand", "Circuit graph: expand or aggregate the selected head"),
    ("A", "expand_all", "Expand all", "Circuit graph: every hook point, or heads aggregated"),
    ("d", "toggle_dead", "Dead", "Circuit graph: show or hide units with no kept path"),
    ("f", "toggle_focus", "Focus", "Circuit graph: only the neighbourhood of the focus unit"),
    ("left_square_bracket", "hops(-1)", "Fewer hops", "Circuit graph: fewer hops around the focus"),
    ("right_square_bracket", "hops(1)", "More hops", "Circuit graph: more hops around the focus"),
]
KEY_HINTS = {
    View.PATHS: "j jump  enter: through selection  - + more  W weight  u update  l follow",
    View.MATRIX: "j jump  u update  l follow",
    View.GRAPH: "j jump  f focus  [ ] hops  - + edges  a A expand  d dead  u update  l follow",
}
DEFAULT_PATHS = 40


@dataclass
class Snapshot:
    """A copy of the state the picture is drawn from, and what is computed from it once."""

    state: ExplorerState
    done: int
    live: set | None = None
    circuits: dict[Weight, KeptCircuit] = field(default_factory=dict)
    finders: dict[tuple[Weight, int], PathFinder] = field(default_factory=dict)
    counts: list[list[int]] | None = None

    def circuit(self, weight: Weight) -> KeptCircuit:
        if self.live is None:
            self.live = live_edges(self.state)
        if weight not in self.circuits:
            self.circuits[weight] = kept_circuit(self.state, weight, self.live)
        return self.circuits[weight]

    def finder(self, weight: Weight, k: int) -> PathFinder:
        if (weight, k) not in self.finders:
            self.finders[weight, k] = PathFinder(self.circuit(weight), k)
        return self.finders[weight, k]


def snapshot_of(state: ExplorerState) -> Snapshot:
    """A copy of the edge views (the run goes on changing `state`); the graph and scores are shared."""
    copy = ExplorerState(state.graph, dict(state.edges), state.status)
    copy.scores = state.scores
    if hasattr(state, "dangling"):
        copy.dangling = set(state.dangling)
    return Snapshot(copy, state.status.done if state.status is not None else 0)


@dataclass(frozen=True)
class Request:
    """What to draw: the view and everything it depends on besides the snapshot."""

    view: View
    options: CircuitOptions
    through: str | None
    weight: Weight
    n_paths: int
    width: int
    focus: Node | str | None


class CircuitView(DagView):
    BINDINGS = [Binding(key, action, title, show=False) for key, action, title, _ in CIRCUIT_ACTIONS]

    def __init__(self, state: ExplorerState, ascii_only: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state, self.ascii_only = state, ascii_only
        self.view = View.PATHS
        self.options = CircuitOptions()
        self.through: str | None = None  # the unit jumped to
        self.weight = Weight.DELTA
        self.n_paths = DEFAULT_PATHS
        self.follow = False
        self.target: Node | Edge | None = None  # the app's selection
        self.snapshot: Snapshot | None = None
        self.picture: CircuitPicture | DagText | None = None
        self.dirty = True  # the state changed in a way the picture should show
        self.stale = False  # the run moved on since the snapshot (shown in the header)
        self.drawing = False  # a picture is under way in a worker
        self.drawn: Request | None = None  # what the picture on screen was drawn for
        self.drawn_options: CircuitOptions | None = None
        self._next_draw = 0.0

    # ---- what is drawn ----

    def request(self) -> Request:
        return Request(self.view, self.options, self.through, self.weight, self.n_paths, self.text_width, self.graph_focus())

    @property
    def text_width(self) -> int:
        """Columns for text, whether or not a vertical scroll bar shows (so lines never need a horizontal one)."""
        return max(20, self.size.width - self.styles.scrollbar_size_vertical) if self.size.width else 80

    def graph_focus(self) -> Node | str | None:
        """The unit the graph centres on: the jump, else the selection, else (following) the live receiver, else the output."""
        if self.through is not None:
            return self.through
        if isinstance(self.target, Edge):
            return self.target.receiver
        if isinstance(self.target, Node):
            return self.target
        status = self.state.status
        if self.follow and status is not None and not self.state.finished():
            return status.current_node
        return None

    @property
    def running(self) -> bool:
        return self.state.status is not None and self.state.status.mode == RUNNING

    def redraw(self, force: bool = False, fresh: bool = False) -> None:
        """Draw again if asked (`force`), or if the state changed and the tab is on screen.

        `fresh`: from a new snapshot of the state. The layout runs in a worker thread, so keys stay
        responsive; a picture that took t seconds is not redrawn for the run's progress before 4t."""
        if not force:
            if not self.is_on_screen:
                return
            if not self.dirty or time.monotonic() < self._next_draw:
                if self.stale and self.picture is not None:
                    self._pin_header()
                return
            fresh = True
        if fresh or self.snapshot is None:
            self.snapshot, self.stale = snapshot_of(self.state), False
        self.dirty, self.drawing = False, True
        self._draw(self.snapshot, self.request())

    @work(thread=True, exclusive=True, group="circuit-layout", exit_on_error=False)
    def _draw(self, snap: Snapshot, req: Request) -> None:
        start = time.monotonic()
        picture = draw_request(snap, req, self.ascii_only)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_picture, picture, req, time.monotonic() - start)

    def _show_picture(self, picture: CircuitPicture | DagText, req: Request, took: float) -> None:
        self.picture, self.drawn, self.drawn_options, self.drawing = picture, req, req.options, False
        dag = picture.dag if isinstance(picture, CircuitPicture) else picture
        states = picture.states if isinstance(picture, CircuitPicture) else self._states(dag)
        self.show(dag, states, header=self._header(dag))
        self._highlight()
        if self.target is None and isinstance(picture, CircuitPicture) and picture.focus is not None:
            self.scroll_to_label(picture.focus)
        self._next_draw = time.monotonic() + 4 * took

    def _states(self, dag: DagText) -> dict[str, str]:
        cells = self.snapshot.state.cells
        by_label = {c.label: c for c in cells.map.cells}
        return {u: cells.cell_state(by_label[u]).value for u in dag.node_spans if u in by_label and by_label[u].kind.value not in ("input", "output")}

    def _header(self, dag: DagText | None = None) -> list[str]:
        views = " ".join(f"[{v.value}]" if v is self.view else v.value for v in View)
        snap = self.snapshot
        where = f"decision {snap.done:,}" if snap is not None else ""
        if self.follow:
            where += " · following the run (l: hold still)"
        elif self.stale and self.state.status is not None:
            where += f" · run at {self.state.status.done:,}: u update, l follow"
        summary = self.picture.header if isinstance(self.picture, CircuitPicture) else ""
        if self.through is not None and self.picture is not None and self.through not in (dag or self.dag).node_spans:
            summary = f"{self.through} is not in the kept circuit" + (f" · {summary}" if summary else "")
        lines = [f"{views} (v) · {where}", summary or KEY_HINTS[self.view], *([KEY_HINTS[self.view]] if summary else [])]
        return [line[: self.text_width] for line in lines]

    def _pin_header(self) -> None:
        self.pin(self._header(), self.pinned_style)

    def on_show(self) -> None:
        if self.dirty or self.snapshot is None:
            self.redraw(force=True, fresh=True)

    def on_resize(self) -> None:
        if self.drawn is not None and self.drawn.view is not View.GRAPH and self.drawn.width != self.text_width:
            self.redraw(force=True)  # the same snapshot, wrapped to the new width

    def changed(self) -> None:
        """The state changed: shown at the next redraw, unless the run is going and follow is off."""
        if self.follow or not self.running:
            self.dirty = True
        else:
            self.stale = True

    # ---- selection and jumps ----

    def show_selection(self, target: Node | Edge | None) -> None:
        """Follow the app's selection: highlight it; in the graph's focus, centre on it."""
        self.target = target
        picture = self.picture
        if isinstance(picture, CircuitPicture) and picture.scope.value == "focus" and self.through is None and picture.unit_of.get(_node(target)) != picture.focus:
            self.redraw(force=True)
        else:
            self._highlight()

    def jump_to(self, name: str) -> bool:
        """Show the unit called `name` (a head `a3.4`, an MLP `m3`, a hook point `a3.4.q_in`, `embed`, `out`):
        the strongest paths through it, the graph around it, highlighted everywhere. False if there is no such unit."""
        unit = self.resolve(name)
        if unit is None:
            return False
        self.through = unit
        self.redraw(force=True)
        return True

    def resolve(self, name: str) -> str | None:
        wanted = name.strip().lower()
        for node in self.state.graph.nodes:
            if node.label.lower() == wanted or self.state.cells.map.cell_of[node].label.lower() == wanted:
                if self.view is View.GRAPH and (self.options.expand_all or node.label in self.options.expanded):
                    return node.label
                return unit_label(self.state, node)
        return None

    def _highlight(self) -> None:
        if self.picture is None:
            return
        if isinstance(self.picture, CircuitPicture):
            unit = self.picture.unit_of
            if isinstance(self.target, Edge) and self.through is None:
                self.select(edge=(unit[self.target.sender], unit[self.target.receiver]))
            elif self.through is not None or isinstance(self.target, Node):
                self.select(node=self.through or unit[self.target])
            return
        node = _node(self.target)
        self.select(node=self.through or (unit_label(self.state, node) if node is not None else None))

    def _index_spans(self) -> None:
        if not self.dag.occurrences:
            super()._index_spans()
            return
        spans: dict[int, list[Span]] = {}
        for line, start, end, unit in self.dag.occurrences:
            style = SELECTED if unit == self.selected_node else NODE_STYLES.get(self.node_states.get(unit, ""), Style())
            spans.setdefault(line, []).append((start, end, style))
        self._line_spans = spans

    # ---- keys ----

    def _set(self, **changes) -> None:
        self.options = replace(self.options, **changes)
        self.redraw(force=True)

    def action_next_view(self) -> None:
        views = list(View)
        self.view = views[(views.index(self.view) + 1) % len(views)]
        self.redraw(force=True)

    def action_update(self) -> None:
        self.redraw(force=True, fresh=True)

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow
        self.app.notify("Circuit: following the run" if self.follow else "Circuit: holding still (u updates)")
        self.redraw(force=True, fresh=True)

    def action_ask_jump(self) -> None:
        from acdc_tui.ui.widgets.dialogs import Prompt

        def check(value: str) -> str | None:
            return None if not value.strip() or self.resolve(value) else f"no head, MLP or hook point called {value.strip()!r}"

        def done(value: str | None) -> None:
            if value is not None:
                self.jump_to(value) if value.strip() else self.action_clear_through()

        self.app.push_screen(Prompt("Jump to (a3.4, m3, a3.4.q_in, embed, out; empty: all paths)", self.through or "", check), done)

    def action_through_selection(self) -> None:
        node = _node(self.target)
        if node is None:
            self.app.notify("Select a head or an MLP first (Overview, side bar, or the Edges tab), or jump with j.", severity="warning")
            return
        self.jump_to(node.label)

    def action_clear_through(self) -> None:
        self.through = None
        self.redraw(force=True)

    def action_toggle_weight(self) -> None:
        if not self.state.scores:
            self.app.notify("No attribution scores loaded (--scores): paths are ranked by |Δ|.", severity="warning")
            return
        self.weight = Weight.DELTA if self.weight is Weight.SCORE else Weight.SCORE
        self.redraw(force=True)

    def action_more(self, step: int) -> None:
        if self.view is View.GRAPH:
            self._set(fan=max(1, self.options.fan + 2 * step))
        else:
            self.n_paths = max(10, self.n_paths + 10 * step)
            self.redraw(force=True)

    def action_expand(self) -> None:
        node = _node(self.target)
        if node is None and self.through is None:
            self.app.notify("Select a head or an MLP first (Overview, side bar, or the Edges tab), or jump with j.", severity="warning")
            return
        label = self.state.cells.map.cell_of[node].label if node is not None else self.through
        self._set(expanded=self.options.expanded ^ {label})

    def action_expand_all(self) -> None:
        self._set(expand_all=not self.options.expand_all, expanded=frozenset())

    def action_toggle_dead(self) -> None:
        self._set(show_dead=not self.options.show_dead)

    def action_toggle_focus(self) -> None:
        self._set(focus_mode=not self.options.focus_mode)

    def action_hops(self, delta: int) -> None:
        self._set(hops=max(1, self.options.hops + delta))


def draw_request(snap: Snapshot, req: Request, ascii_only: bool = False) -> CircuitPicture | DagText:
    """The picture for one view of a snapshot (pure: called in a worker thread, and by tests)."""
    if req.view is View.GRAPH:
        snap.circuit(req.weight)  # the live edges, computed once per snapshot
        return draw_circuit(snap.state, req.options, req.focus, ascii_only, snap.live)
    circuit = snap.circuit(req.weight)
    if req.view is View.MATRIX:
        if snap.counts is None:
            snap.counts = layer_matrix(snap.state, circuit)
        return matrix_page(circuit, snap.counts, req.width, ascii_only)
    finder = snap.finder(req.weight, req.n_paths)
    paths = finder.top(req.through) if req.through in circuit.units else [] if req.through else finder.top()
    return paths_page(circuit, paths, req.width, req.through, ascii_only)


def _node(target: Node | Edge | None) -> Node | None:
    return target.receiver if isinstance(target, Edge) else target
