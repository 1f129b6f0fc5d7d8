"""Each cell's state and in-edge counts, kept up to date as edges change.

Pure (no textual). A cell's counts are recomputed only when an edge into one of its hook points
changed, and a hook point's liveness only when one of its out-edges changed, so a batch of a
few edges costs a few cells, not the 32,923 edges of GPT-2 small.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterable, Protocol

from acdc_tui.core.graph import ComputationalGraph, Node
from acdc_tui.runs.driver import RunStatus
from acdc_tui.ui.model_map import Cell, CellKind, ModelMap


class ExplorerState(Protocol):
    """What a CellBook reads of the explorer's state (ui/state.py's `ExplorerState` has it). A protocol,
    so that state.py can import this module without this module importing it back."""

    graph: ComputationalGraph
    edges: dict[Any, Any]  # EdgeKey -> EdgeView
    status: RunStatus | None
    order: dict[Node, int]

    def finished(self) -> bool: ...


class CellState(str, Enum):
    PENDING = "pending"  # its liveness is not known yet: the walk has not reached it
    CURRENT = "current"  # the run's current receiver is one of its hook points
    ALIVE = "alive"  # reached, and something downstream still reads it
    DEAD = "dead"  # nothing downstream reads it any more
    OVERRIDDEN = "overridden"  # not dead, and an in-edge of it is pinned or force-pruned


# Marks carry the state without colour; the side bar uses the first four for single hook points.
MARKS = {CellState.PENDING: "·", CellState.CURRENT: "▶", CellState.ALIVE: "●", CellState.DEAD: "✗", CellState.OVERRIDDEN: "◆"}
ASCII_MARKS = {CellState.PENDING: ".", CellState.CURRENT: ">", CellState.ALIVE: "o", CellState.DEAD: "x", CellState.OVERRIDDEN: "*"}
WORDS = {CellState.PENDING: "pending", CellState.CURRENT: "current", CellState.ALIVE: "alive", CellState.DEAD: "dead", CellState.OVERRIDDEN: "pinned/forced"}


@dataclass(frozen=True)
class CellCounts:
    """Tested edges into the cell from outside it; pins and force-prunes on any of its in-edges."""

    kept: int = 0
    removed: int = 0
    total: int = 0
    pinned: int = 0
    forced: int = 0

    @property
    def undecided(self) -> int:
        return self.total - self.kept - self.removed


@dataclass(frozen=True)
class CellSummary:
    cell: Cell
    state: CellState
    counts: CellCounts


class CellBook:
    """Summaries of a state's cells; `invalidate` the nodes an update touched."""

    def __init__(self, state: ExplorerState) -> None:
        self.state = state
        self.map = ModelMap(state.graph)
        self._counts: dict[Cell, CellCounts] = {}
        self._dead: dict[Node, bool] = {}
        self._reached = {c: max(state.order[n] for n in c.outputs) for c in self.map.cells}  # visiting position of its last output

    def invalidate(self, edges: Iterable[tuple[Node, Node]] | None = None) -> None:
        """Forget what changed edges (sender, receiver) may have changed: the receiver's counts, the
        sender's liveness. None: everything."""
        if edges is None:
            self._counts.clear()
            self._dead.clear()
            return
        for sender, receiver in edges:
            self._counts.pop(self.map.cell_of[receiver], None)
            self._dead.pop(sender, None)

    def summary(self, cell: Cell) -> CellSummary:
        return CellSummary(cell, self.cell_state(cell), self.counts(cell))

    def summaries(self) -> dict[Cell, CellSummary]:
        """Every cell's summary (what the overview draws), the run's position looked up once."""
        where = self._where()
        return {c: CellSummary(c, self._state(c, *where), self.counts(c)) for c in self.map.cells}

    def cell_state(self, cell: Cell) -> CellState:
        return self._state(cell, *self._where())

    def _where(self) -> tuple[bool, Cell | None, int]:
        """(finished, the current receiver's cell, its visiting position) of the run."""
        st = self.state.status
        current = st.current_node if st is not None else None
        if self.state.finished() or current is None:
            return self.state.finished(), None, -1
        return False, self.map.cell_of.get(current), self.state.order[current]

    def _state(self, cell: Cell, finished: bool, current_cell: Cell | None, current_order: int) -> CellState:
        if cell is current_cell:
            return CellState.CURRENT
        if cell.kind is not CellKind.OUTPUT and all(self.dead(n) for n in cell.outputs):
            return CellState.DEAD
        counts = self.counts(cell)
        if counts.pinned or counts.forced:
            return CellState.OVERRIDDEN
        if finished or self._reached[cell] < current_order:  # the walk is past every output: its liveness is final
            return CellState.ALIVE
        return CellState.PENDING

    def dead(self, node: Node) -> bool:
        """No present out-edge (the output node never is)."""
        if node not in self._dead:
            graph, edges = self.state.graph, self.state.edges
            self._dead[node] = node != graph.output_node and not any(edges[node, r].present for r in graph.dag.succ[node])
        return self._dead[node]

    def counts(self, cell: Cell) -> CellCounts:
        if cell not in self._counts:
            self._counts[cell] = self._count(cell)
        return self._counts[cell]

    def _count(self, cell: Cell) -> CellCounts:
        kept = removed = total = pinned = forced = 0
        inside = set(cell.members)
        for receiver in cell.members:
            for e in self.state.graph.incoming[receiver]:
                if not e.tested:
                    continue
                v = self.state.edges[e.key]
                pinned += v.pinned
                forced += v.forced
                if e.sender in inside:
                    continue
                total += 1
                if v.decided_by is not None or not v.present:
                    kept += v.present
                    removed += not v.present
        return CellCounts(kept, removed, total, pinned, forced)
