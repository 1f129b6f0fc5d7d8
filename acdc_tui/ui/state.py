"""What the explorer shows, kept apart from the widgets: edge states, node states, history.

Filled from the driver's batches (a live run) or from a circuit file (browsing). It holds no
ACDC logic: edge states are copies of the run's records; node states are derived for display.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from acdc_tui.core.algorithm import dangling_edges
from acdc_tui.core.events import EdgeForced, EdgeTested, Event, OverrideApplied
from acdc_tui.core.graph import ComputationalGraph, Edge, EdgeType, Node
from acdc_tui.io.circuit import Circuit
from acdc_tui.io.reference_log import format_event
from acdc_tui.runs.driver import FINISHED, Batch, EdgeView, RunStatus
from acdc_tui.ui.cell_states import CellBook

EdgeKey = tuple[Node, Node]
PENDING_VIEW = EdgeView(True, None, None, None, None, False, False)


@dataclass
class Changes:
    edges: set[EdgeKey] = field(default_factory=set)
    nodes: set[Node] = field(default_factory=set)  # nodes whose state or counts may differ now
    dangling: set[EdgeKey] = field(default_factory=set)  # edges that became dangling with this change


def edge_state(edge: Edge, v: EdgeView) -> str:
    if not edge.tested:
        return "structural" if v.present else "removed"
    if v.decided_by is None:
        return "removed" if not v.present else "pending"
    return "kept" if v.present else "removed"


def edge_flags(v: EdgeView, dangling: bool = False) -> str:
    return " ".join(f for f, on in (("pinned", v.pinned), ("forced", v.forced), ("dangling", dangling)) if on)


def _overridden(v: EdgeView) -> bool:
    return v.pinned or v.forced


def format_delta(delta: float | None) -> str:
    return "" if delta is None else f"{delta:+.4g}"


class ExplorerState:
    def __init__(self, graph: ComputationalGraph, edges: dict[EdgeKey, EdgeView] | None = None, status: RunStatus | None = None) -> None:
        self.graph = graph
        self.edges: dict[EdgeKey, EdgeView] = {e.key: PENDING_VIEW for e in graph.edges}
        if edges:
            self.edges.update(edges)
        self.status = status
        self.order = {n: i for i, n in enumerate(graph.nodes)}  # visiting order
        self.metric_series: list[float] = []
        self.history: dict[EdgeKey, list[str]] = {}  # log lines per edge, for the details pane
        self.cells = CellBook(self)  # the overview's cells: whoever changes `edges` must invalidate it
        # attribution beside ACDC (--scores): each tested edge's score, how far attribution's ranking
        # and ACDC's decisions so far disagree on it, and the edges where they disagree most
        self.scores: dict[EdgeKey, float] | None = None
        self.disagreement: dict[EdgeKey, float] = {}
        self.disagree_marked: set[EdgeKey] = set()
        self.comparison = None
        # kept edges whose receiver no longer reaches the output (the core decides: dangling_edges);
        # every view marks them and draws no path through them
        self.dangling: set[EdgeKey] = set()
        self._update_dangling()

    @classmethod
    def from_circuit(cls, graph: ComputationalGraph, circuit: Circuit) -> "ExplorerState":
        """A finished state from an exported file (edges must exist in `graph`)."""
        views = {(e.sender, e.receiver): EdgeView(e.present, e.delta, e.step, e.decided_by, None, e.pinned, e.forced) for e in circuit.edges}
        kept = sum(1 for e in circuit.edges if e.present and e.type is not EdgeType.PLACEHOLDER)
        m = circuit.metrics
        s = circuit.summary
        status = RunStatus(
            FINISHED, s.get("edges_decided", 0), s.get("edges_total", 0), s.get("edges_decided", 0), kept,
            m.get("initial"), m.get("final"), _threshold(circuit), None,
            s.get("elapsed_s", 0.0), 0.0, None, circuit.complete,
        )
        return cls(graph, views, status)

    # ---- updates ----

    def apply(self, batch: Batch) -> Changes:
        ch = Changes()
        before = self.status.current_node if self.status else None
        self.status = batch.status
        suspect = any(isinstance(ev, OverrideApplied) for ev in batch.events)
        for key, view in batch.edges.items():
            old = self.edges[key]
            suspect = suspect or _overridden(old) or _overridden(view) or (bool(self.dangling) and old.present != view.present)
            self.edges[key] = view
            ch.edges.add(key)
            ch.nodes.update(key)  # the receiver's counts, the sender's liveness
        ch.nodes.update(n for n in (before, batch.status.current_node) if n is not None)
        if suspect:
            ch.dangling = self._update_dangling(ch.edges)
        self.cells.invalidate(ch.edges)
        for ev in batch.events:
            self._remember(ev)
        return ch

    def _update_dangling(self, changed: set | None = None) -> set[EdgeKey]:
        """Recompute the dangling edges; returns the new ones and adds every edge whose mark changed to `changed`.

        Only tested edges that are pinned or decided count: an undecided edge into a receiver that
        no longer feeds anything is removed when ACDC reaches that receiver. Without overrides no
        decided edge can dangle, so callers recompute only when an override is involved (O(E)).
        """
        edges = self.edges
        cut = dangling_edges(self.graph, lambda e: edges[e.key].present)
        now = {k for k in cut if self.graph.edge(*k).tested and ((v := edges[k]).pinned or v.decided_by is not None)}
        new, flipped = now - self.dangling, now ^ self.dangling
        self.dangling = now
        if changed is not None:
            changed |= flipped
        return new

    def flags(self, edge: Edge) -> str:
        """An edge's marks: pinned, forced, dangling."""
        return edge_flags(self.edges[edge.key], edge.key in self.dangling)

    def _remember(self, ev: Event) -> None:
        if isinstance(ev, (EdgeTested, EdgeForced)):
            self.metric_series.append(ev.current_metric)
        if isinstance(ev, (EdgeTested, EdgeForced, OverrideApplied)):
            self.history.setdefault(ev.edge.key, []).extend(f"[{ev.seq}] {line}" for line in format_event(ev))

    # ---- attribution ----

    def set_scores(self, scores: dict[EdgeKey, float]) -> None:
        """Attribution scores of tested edges (a scores file of this model's graph)."""
        unknown = [k for k in scores if k not in self.edges]
        if unknown:
            s, r = unknown[0]
            raise ValueError(f"the scores name edge {s} -> {r}, which this model's graph lacks: they were computed for another model")
        self.scores = dict(scores)
        self.update_disagreement()

    def update_disagreement(self, marked_fraction: float = 0.05) -> set[EdgeKey]:
        """Compare the scores with ACDC's decisions so far; returns the edges whose mark changed."""
        from acdc_tui.analysis.attribution import Outcome, compare

        if not self.scores:
            return set()
        outcomes = [
            Outcome(e.key, v.delta if v.decided_by in ("test", "forced") else None, v.present)
            for e in self.graph.tested_edges
            if (v := self.edges[e.key]).decided_by is not None
        ]
        before = self.disagree_marked
        self.comparison = compare(self.scores, outcomes)
        self.disagreement = self.comparison.disagreement
        ranked = sorted((d, i) for i, (k, d) in enumerate(self.disagreement.items()) if d > 0)
        keys = list(self.disagreement)
        count = max(1, int(marked_fraction * len(outcomes))) if outcomes else 0
        self.disagree_marked = {keys[i] for _, i in ranked[-count:]} if count else set()
        return before ^ self.disagree_marked

    # ---- queries ----

    def view(self, edge: Edge) -> EdgeView:
        return self.edges[edge.key]

    def present_edges(self) -> list[Edge]:
        return [e for e in self.graph.edges if self.edges[e.key].present]

    def finished(self) -> bool:
        return self.status is not None and self.status.mode == FINISHED

    def node_state(self, node: Node) -> str:
        """pending | current | alive | dead, for display."""
        st = self.status
        if st is not None and st.current_node == node and st.mode != FINISHED:
            return "current"
        if node != self.graph.output_node and not any(self.edges[e.key].present for e in self.graph.outgoing(node)):
            return "dead"
        if self.finished() or (st is not None and st.current_node is not None and self.order[node] < self.order[st.current_node]):
            return "alive"
        return "pending"

    def in_counts(self, node: Node) -> tuple[int, int, int]:
        """(kept, removed, total) of a node's tested incoming edges; undecided ones count as neither."""
        kept = removed = total = 0
        for e in self.graph.incoming[node]:
            if not e.tested:
                continue
            v = self.edges[e.key]
            total += 1
            if v.decided_by is not None or not v.present:
                kept += v.present
                removed += not v.present
        return kept, removed, total


def _threshold(circuit: Circuit) -> float:
    """τ for the status bar; NaN for files that have none (EAP-IG graphs, reference subgraphs)."""
    value = circuit.settings.get("threshold")
    return float("nan") if value is None else float(value)
