"""The kept circuit as a researcher reads it at any size: live edges, strongest paths, a layer matrix.

Pure (no textual). "Nothing is drawn that is not in the circuit":

- **Live edges**: a present edge counts only if its sender is reached from an input and its receiver
  reaches the output through present edges, hook point by hook point (a head's q input that no
  longer feeds its result is cut, whatever the head's other inputs do). Edges the state marks as
  dangling (`state.dangling`, a pinned edge whose path was cut) are left out first.
- **Units**: heads and MLPs (`a3.4`, `m3`), inputs and the output, as in the Overview; a unit edge
  stands for the live hook-point edges between two units, weighted by the sum of their |Δ| (or of
  their |attribution score| when scores are loaded). An undecided edge has no weight yet.
- **Paths**: the k strongest input → output paths through the unit graph. A path's strength is the
  product of its edges' weights relative to the strongest unit edge (1 for a path made only of the
  strongest edge); an undecided edge counts as 1 and the path is marked. Exact: a k-best dynamic
  programme over the units in layer order, from the inputs (prefixes) and from the output (suffixes),
  so the best paths through any one unit come from the same tables.
- **Layer matrix**: live hook-point edges counted by sender layer and receiver layer.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from acdc_tui.ui.dag_render import circuit_row_key
from acdc_tui.ui.model_map import CellKind

if TYPE_CHECKING:  # pragma: no cover
    from acdc_tui.core.graph import Node
    from acdc_tui.ui.state import ExplorerState

EdgeKey = tuple["Node", "Node"]
UnitEdge = tuple[str, str]
AGGREGATED = (CellKind.HEAD, CellKind.KV_HEAD, CellKind.BLOCK)
FLOOR = 1e-300  # a kept edge of weight 0 (a pin with Δ 0) still makes a path, the weakest one


class Weight(str, Enum):
    DELTA = "|Δ|"
    SCORE = "|attribution|"


def live_edges(state: "ExplorerState") -> set[EdgeKey]:
    """Present edges on some input → output path of present edges (dangling ones excluded)."""
    dangling = getattr(state, "dangling", None) or ()
    succ: dict = {}
    pred: dict = {}
    present = [k for k, v in state.edges.items() if v.present and k not in dangling]
    for s, r in present:
        succ.setdefault(s, []).append(r)
        pred.setdefault(r, []).append(s)
    reached = _closure(state.graph.input_nodes, succ)
    reaching = _closure([state.graph.output_node], pred)
    return {(s, r) for s, r in present if s in reached and r in reaching}


def _closure(starts, step: dict) -> set:
    seen, todo = set(starts), list(starts)
    while todo:
        for w in step.get(todo.pop(), ()):
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def unit_label(state: "ExplorerState", node: "Node", expanded: frozenset[str] = frozenset(), expand_all: bool = False) -> str:
    """The label a node is drawn under: its head or MLP, unless that cell is expanded."""
    cell = state.cells.map.cell_of[node]
    return cell.label if cell.kind in AGGREGATED and not (expand_all or cell.label in expanded) else node.label


@dataclass(frozen=True)
class Path:
    units: tuple[str, ...]
    strength: float  # product of relative edge weights, in (0, 1]
    undecided: int  # edges without a weight yet (counted as 1)


@dataclass
class KeptCircuit:
    """The live edges of a state, by unit; built once per picture."""

    units: list[str]  # in layer order (inputs first, output last)
    edges: dict[UnitEdge, float | None]  # unit edge -> weight (None: undecided)
    layer_of: dict[str, int]  # unit -> layer (-1 inputs, n_layers output)
    n_layers: int
    node_edges: set[EdgeKey] = field(default_factory=set)  # the live hook-point edges
    weight: Weight = Weight.DELTA
    inputs: list[str] = field(default_factory=list)
    output: str = "out"
    unit_of: dict = field(default_factory=dict)  # every node -> its unit

    @property
    def succ(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for s, r in self.edges:
            out.setdefault(s, []).append(r)
        return out

    @property
    def pred(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for s, r in self.edges:
            out.setdefault(r, []).append(s)
        return out


def kept_circuit(state: "ExplorerState", weight: Weight = Weight.DELTA, edges: set[EdgeKey] | None = None) -> KeptCircuit:
    """The kept circuit of `state` by unit (`edges`: the live edges, if already computed)."""
    live = live_edges(state) if edges is None else edges
    scores = state.scores if weight is Weight.SCORE and state.scores else None
    graph = state.graph
    n_layers = graph.spec.n_layers
    unit = {n: unit_label(state, n) for n in graph.nodes}
    key: dict[str, float] = {}
    for n, u in unit.items():
        key[u] = min(key.get(u, math.inf), circuit_row_key(n, n_layers))
    weights: dict[UnitEdge, float | None] = {}
    views = state.edges
    for s, r in live:
        us, ur = unit[s], unit[r]
        if us == ur:
            continue
        w = _edge_weight(views[s, r], scores.get((s, r)) if scores is not None else None, scores is not None)
        old = weights.get((us, ur), 0.0)
        weights[us, ur] = None if w is None or old is None else old + w
    units = sorted({u for e in weights for u in e}, key=lambda u: (key[u], _head_index(u), u))
    layer_of = {u: _layer(n, n_layers) for n, u in unit.items()}
    inputs = [unit[n] for n in graph.input_nodes if unit[n] in units]
    weight = Weight.SCORE if scores else Weight.DELTA
    return KeptCircuit(units, weights, layer_of, n_layers, live, weight, inputs, unit[graph.output_node], unit)


def _edge_weight(v, score: float | None, by_score: bool) -> float | None:
    """|score| (None for an edge without one) or |Δ| (None while undecided)."""
    if by_score:
        return abs(score) if score is not None else None
    if v.delta is None:
        return None if v.decided_by is None else 0.0
    return abs(v.delta)


def _layer(node: "Node", n_layers: int) -> int:
    kind = getattr(node.kind, "value", node.kind)
    if kind == "output":
        return n_layers
    return -1 if node.layer is None or kind in ("embed", "pos_embed", "resid_pre") else node.layer


def _head_index(unit: str) -> int:
    """a3.10 after a3.9 (labels sort as text otherwise)."""
    tail = unit.rsplit(".", 1)[-1]
    return int(tail) if tail.isdigit() else -1


# ---- paths ----

Entry = tuple[float, int, str, int]  # (log strength, undecided edges, previous unit, its entry index)


def _relative(circuit: KeptCircuit) -> dict[UnitEdge, tuple[float, int]]:
    """Each unit edge's log relative weight and whether it is undecided."""
    top = max((w for w in circuit.edges.values() if w is not None), default=0.0) or 1.0
    return {e: ((0.0, 1) if w is None else (math.log(max(w / top, FLOOR)), 0)) for e, w in circuit.edges.items()}


def _k_best(order: list[str], starts: list[str], step: dict[str, list[str]], rel: dict, k: int, forward: bool) -> dict[str, list[Entry]]:
    """For each unit, its k strongest partial paths from `starts` (forward: from the inputs), strongest first."""
    best: dict[str, list[Entry]] = {u: [(0.0, 0, "", -1)] for u in starts}
    for u in order:
        if u in best:
            continue
        heads = []  # one per neighbour: its next-best partial path extended to u
        for p in step.get(u, ()):
            if p in best:
                lw, und = rel[(p, u) if forward else (u, p)]
                ls, n, _, _ = best[p][0]
                heads.append((-(ls + lw), n + und, p, 0, lw, und))
        if heads:
            best[u] = _merge(heads, best, k)
    return best


def _merge(heads: list, best: dict[str, list[Entry]], k: int) -> list[Entry]:
    """The k best of the neighbours' sorted lists, each shifted by its edge (a k-way merge)."""
    heapq.heapify(heads)
    out: list[Entry] = []
    while heads and len(out) < k:
        neg, n, p, i, lw, und = heapq.heappop(heads)
        out.append((-neg, n, p, i))
        if i + 1 < len(best[p]):
            ls, n2, _, _ = best[p][i + 1]
            heapq.heappush(heads, (-(ls + lw), n2 + und, p, i + 1, lw, und))
    return out


def _trace(best: dict[str, list[Entry]], unit: str, index: int) -> list[str]:
    out = []
    while index >= 0:
        out.append(unit)
        _, _, unit, index = best[unit][index]
    return out


class PathFinder:
    """The strongest paths of a kept circuit, overall or through one unit."""

    def __init__(self, circuit: KeptCircuit, k: int = 40) -> None:
        self.circuit, self.k = circuit, k
        self.rel = _relative(circuit)
        self.prefix = _k_best(circuit.units, circuit.inputs, circuit.pred, self.rel, k, True)
        self._suffix: dict[str, list[Entry]] | None = None

    @property
    def suffix(self) -> dict[str, list[Entry]]:
        """The k strongest partial paths from each unit to the output (computed on first use)."""
        if self._suffix is None:
            c = self.circuit
            self._suffix = _k_best(c.units[::-1], [c.output], c.succ, self.rel, self.k, False)
        return self._suffix

    def top(self, through: str | None = None) -> list[Path]:
        """The k strongest input → output paths (through `through` if given), strongest first."""
        if through is None:
            return [self._path(_trace(self.prefix, self.circuit.output, i)[::-1], e) for i, e in enumerate(self.prefix.get(self.circuit.output, []))]
        pre, suf = self.prefix.get(through, []), self.suffix.get(through, [])
        pairs = heapq.nlargest(self.k, ((a[0] + b[0], -(a[1] + b[1]), i, j) for i, a in enumerate(pre) for j, b in enumerate(suf)))
        out = []
        for _, _, i, j in pairs:
            units = _trace(self.prefix, through, i)[::-1] + _trace(self.suffix, through, j)[1:]
            out.append(Path(tuple(units), math.exp(pre[i][0] + suf[j][0]), pre[i][1] + suf[j][1]))
        return out

    @staticmethod
    def _path(units: list[str], entry: Entry) -> Path:
        return Path(tuple(units), math.exp(entry[0]), entry[1])


# ---- layer matrix ----


def layer_matrix(state: "ExplorerState", circuit: KeptCircuit) -> list[list[int]]:
    """Live hook-point edges between different units, counted by [sender layer + 1][receiver layer].

    Rows: inputs, layers 0..L-1; columns: layers 0..L-1, output."""
    n = circuit.n_layers
    unit = circuit.unit_of
    row = {node: _layer(node, n) + 1 for node in unit}
    col = {node: min(_layer(node, n), n) for node in unit}
    counts = [[0] * (n + 1) for _ in range(n + 1)]
    for s, r in circuit.node_edges:
        if unit[s] != unit[r]:
            counts[row[s]][col[r]] += 1
    return counts


def units_by_layer(circuit: KeptCircuit) -> list[tuple[int, list[str]]]:
    """The kept units of each layer (-1: inputs, n_layers: output), in order."""
    rows: dict[int, list[str]] = {}
    for u in circuit.units:
        rows.setdefault(circuit.layer_of[u], []).append(u)
    return sorted(rows.items())
