"""What the Circuit tab draws for a circuit of any size: units, edges between them, and a scope.

Pure (no textual); `render_dag` does the drawing. Three reductions make big circuits readable:

- **Aggregation**: a head's hook points (q/k/v inputs, q/k/v, result) are drawn as one unit, the
  head (`a3.4`), and an MLP's input and output as one (`m3`); edges inside a unit vanish and edges
  into any of its hook points become one edge into the unit. Expanding a cell (or all) draws its
  hook points again.
- **Only the live circuit**: an edge is drawn only if it lies on a present path from an input to the
  output, hook point by hook point (`circuit_paths.live_edges`; dangling pins excluded), so a unit
  with no such path (dead) is left out (and counted) unless asked for.
- **Focus**: when the whole circuit has more edges than can be drawn usefully, or when asked, only
  the neighbourhood of one unit is drawn: its senders and receivers, `hops` steps out (for 1 hop:
  the unit's own in- and out-edges; for 2: also those of its senders and receivers, and so on),
  at most `fan` edges into and out of each unit, the strongest (by summed |Δ|), so the names of
  what is drawn fit on screen; the header counts the weaker ones left out.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import Enum

from acdc_tui.core.graph import Node
from acdc_tui.ui.circuit_paths import live_edges
from acdc_tui.ui.dag_render import DagText, circuit_row_key, render_dag
from acdc_tui.ui.model_map import Cell, CellKind
from acdc_tui.ui.state import ExplorerState

DEFAULT_MAX_EDGES = 600  # past this the layout is slow and the picture unreadable: focus instead
DEFAULT_FAN = 10  # in focus, the strongest edges drawn into and out of each unit
AGGREGATED = (CellKind.HEAD, CellKind.KV_HEAD, CellKind.BLOCK)
UnitEdge = tuple[str, str]


class Scope(str, Enum):
    WHOLE = "whole"
    FOCUS = "focus"


@dataclass(frozen=True)
class CircuitOptions:
    expanded: frozenset[str] = frozenset()  # labels of cells drawn as their hook points
    expand_all: bool = False
    show_dead: bool = False
    focus_mode: bool = False  # draw the neighbourhood even when the whole circuit would fit
    hops: int = 1
    max_edges: int = DEFAULT_MAX_EDGES
    fan: int = DEFAULT_FAN


@dataclass
class CircuitPicture:
    dag: DagText
    header: str  # one line: what is drawn and what is left out
    scope: Scope
    unit_of: dict[Node, str] = field(default_factory=dict)  # every node -> the label it is drawn under
    states: dict[str, str] = field(default_factory=dict)  # drawn label -> pending | current | alive | dead | overridden
    focus: str | None = None


class UnitGraph:
    """The present edges between units (heads, MLPs, hook points of expanded cells)."""

    def __init__(self, state: ExplorerState, options: CircuitOptions, live: set | None = None) -> None:
        self.state, self.options = state, options
        cells = state.cells.map.cell_of
        self.unit_of: dict[Node, str] = {n: self._unit(n, cells[n]) for n in state.graph.nodes}
        self.node_of_unit: dict[str, Node] = {}
        for n in state.graph.nodes:
            cell = cells[n]
            self.node_of_unit.setdefault(self.unit_of[n], state.cells.map.node_of(cell) if self.unit_of[n] == cell.label else n)
        n_layers = state.graph.spec.n_layers
        self.row_key = {u: circuit_row_key(n, n_layers) for u, n in self.node_of_unit.items()}
        self.edges: set[UnitEdge] = set()
        self.weight: dict[UnitEdge, float] = {}  # summed |Δ| of the hook-point edges (0 undecided)
        self.live: set[UnitEdge] = set()  # unit edges with a live hook-point edge
        live = live_edges(state) if live is None else live
        for key, view in state.edges.items():
            if view.present:
                s, r = self.unit_of[key[0]], self.unit_of[key[1]]
                if s != r:
                    self.edges.add((s, r))
                    self.weight[s, r] = self.weight.get((s, r), 0.0) + abs(view.delta or 0.0)
                    if key in live:
                        self.live.add((s, r))
        self.succ: dict[str, set[str]] = {}
        self.pred: dict[str, set[str]] = {}
        for s, r in self.edges:
            self.succ.setdefault(s, set()).add(r)
            self.pred.setdefault(r, set()).add(s)

    def sort_key(self, unit: str) -> tuple:
        """Row, then head index, then label: the order units are first placed in a row."""
        node = self.node_of_unit[unit]
        return (self.row_key[unit], -1 if node.head is None else node.head, unit)

    def _unit(self, node: Node, cell: Cell) -> str:
        o = self.options
        return cell.label if cell.kind in AGGREGATED and not (o.expand_all or cell.label in o.expanded) else node.label

    def reaching_output(self) -> set[str]:
        """Units with a present path to the output (the output included)."""
        out = self.unit_of[self.state.graph.output_node]
        seen, todo = {out}, [out]
        while todo:
            for s in self.pred.get(todo.pop(), ()):
                if s not in seen:
                    seen.add(s)
                    todo.append(s)
        return seen

    def strongest(self, edges: set[UnitEdge], fan: int, centre: str | None) -> set[UnitEdge]:
        """At most `fan` edges into and out of each unit (the centre's first), the strongest ones."""
        picked: set[UnitEdge] = set()
        n_in: dict[str, int] = {}
        n_out: dict[str, int] = {}
        for s, r in sorted(edges, key=lambda e: (centre not in e, -self.weight.get(e, 0.0), e)):
            if n_out.get(s, 0) < fan and n_in.get(r, 0) < fan:
                picked.add((s, r))
                n_out[s], n_in[r] = n_out.get(s, 0) + 1, n_in.get(r, 0) + 1
        return picked

    def neighbourhood(self, centre: str, hops: int, allowed: set[str]) -> set[UnitEdge]:
        """Every in-edge of the units less than `hops` steps upstream of `centre`, and every out-edge
        of those less than `hops` steps downstream (1 hop: the centre's own in- and out-edges)."""
        picked: set[UnitEdge] = set()
        for step, upstream in ((self.pred, True), (self.succ, False)):
            dist = {centre: 0}
            todo = deque([centre])
            while todo:
                u = todo.popleft()
                if dist[u] == hops:
                    continue
                for w in step.get(u, ()):
                    if w not in allowed:
                        continue
                    picked.add((w, u) if upstream else (u, w))
                    if w not in dist:
                        dist[w] = dist[u] + 1
                        todo.append(w)
        return picked


def unit_state(state: ExplorerState, graph: UnitGraph, unit: str) -> str:
    node = graph.node_of_unit[unit]
    cells = state.cells
    cell = cells.map.cell_of[node]
    if unit == cell.label and cell.kind is not CellKind.INPUT:
        return cells.cell_state(cell).value
    return state.node_state(node)


def draw_circuit(state: ExplorerState, options: CircuitOptions, focus: Node | str | None, ascii_only: bool = False, live: set | None = None) -> CircuitPicture:
    """The picture for the Circuit tab: the whole circuit if it is small enough, else the neighbourhood
    of `focus` (a node, or a unit's label; default the output). `live`: the live edges, if known."""
    graph = UnitGraph(state, options, live)
    edges = set(graph.edges) if options.show_dead else set(graph.live)
    drawn_units = {u for e in edges for u in e}
    hidden_dead = len({u for e in graph.edges for u in e} - drawn_units)
    scope, centre = Scope.WHOLE, None
    what = f"whole circuit: {len(drawn_units)} units, {len(edges)} edges"
    if options.focus_mode or len(edges) > options.max_edges:
        scope, centre = Scope.FOCUS, _centre(state, graph, focus)
        edges, what = _focused(graph, options, centre, edges)
    nodes = sorted({u for e in edges for u in e} | ({centre} if centre else set()), key=graph.sort_key)
    dag = render_dag(edges, graph.row_key.__getitem__, nodes=nodes, ascii_only=ascii_only)
    parts = [what, "every hook point" if options.expand_all else "heads aggregated"]
    if hidden_dead:
        parts.append(f"{hidden_dead} dead hidden")
    states = {u: unit_state(state, graph, u) for u in dag.node_spans}
    return CircuitPicture(dag, " · ".join(parts), scope, graph.unit_of, states, centre)


def _centre(state: ExplorerState, graph: UnitGraph, focus: Node | str | None) -> str:
    if isinstance(focus, str) and focus in graph.node_of_unit:
        return focus
    return graph.unit_of[focus if isinstance(focus, Node) else state.graph.output_node]


def _focused(graph: UnitGraph, options: CircuitOptions, centre: str, edges: set[UnitEdge]) -> tuple[set[UnitEdge], str]:
    """The neighbourhood of `centre` within `edges`, fewer hops if too big, the strongest `fan` per unit."""
    allowed = {u for e in edges for u in e} | {centre}
    hops = max(1, options.hops)
    focused = graph.neighbourhood(centre, hops, allowed) & edges
    while len(focused) > options.max_edges and hops > 1:  # too many to draw: fewer hops
        hops -= 1
        focused = graph.neighbourhood(centre, hops, allowed) & edges
    shown = graph.strongest(focused, max(1, options.fan), centre)
    what = f"around {centre}, {hops} hop{'s' if hops > 1 else ''}: {len(focused)} of {len(edges)} edges"
    if len(shown) < len(focused):
        what += f", {len(shown)} strongest drawn (- +)"
    return shown, what
