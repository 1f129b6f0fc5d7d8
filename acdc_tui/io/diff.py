"""Circuit diff: which tested edges two circuits of one model keep, each side's Δ and decision.

Pure: two Circuits in, a CircuitDiff out (the `diff` command prints it; the explorer can show it).
Placeholder edges are structural, never tested, and left out, as in `edges_kept`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import Edge, EdgeType, GraphSpec, Node
from acdc_tui.io.circuit import Circuit, CircuitEdge


class DiffSide(str, Enum):
    ONLY_A = "only in A"
    ONLY_B = "only in B"
    BOTH = "in both"


@dataclass(frozen=True)
class EdgeState:
    """One side's view of an edge: kept or removed, how, and its Δ (None: not tested)."""

    present: bool
    delta: float | None
    decided_by: str | None
    pinned: bool = False
    forced: bool = False

    @property
    def decision(self) -> str:
        """`kept (test)`, `removed (skipped)`, `kept (pinned)`, `removed (not decided)`..."""
        how = "pinned" if self.pinned else "forced" if self.forced else self.decided_by or "not decided"
        return f"{'kept' if self.present else 'removed'} ({how})"

    @classmethod
    def of(cls, e: CircuitEdge) -> "EdgeState":
        return cls(e.present, e.delta, e.decided_by, e.pinned, e.forced)


@dataclass(frozen=True)
class DiffRow:
    edge: Edge
    a: EdgeState
    b: EdgeState


@dataclass(frozen=True)
class CircuitDiff:
    """Rows in ACDC visiting order; `n_tested` counts the model's tested edges."""

    only_a: tuple[DiffRow, ...]
    only_b: tuple[DiffRow, ...]
    both: tuple[DiffRow, ...]
    n_tested: int

    @property
    def identical(self) -> bool:
        return not self.only_a and not self.only_b

    def rows(self, side: DiffSide) -> tuple[DiffRow, ...]:
        return {DiffSide.ONLY_A: self.only_a, DiffSide.ONLY_B: self.only_b, DiffSide.BOTH: self.both}[side]

    @property
    def jaccard(self) -> float:
        """|A ∩ B| / |A ∪ B| of the kept edges (1 when both keep nothing)."""
        union = len(self.only_a) + len(self.only_b) + len(self.both)
        return 1.0 if union == 0 else len(self.both) / union

    def summary(self) -> str:
        kept_a, kept_b = len(self.only_a) + len(self.both), len(self.only_b) + len(self.both)
        return (
            f"A keeps {kept_a} and B keeps {kept_b} of {self.n_tested} tested edges: {len(self.both)} in both, "
            f"{len(self.only_a)} only in A, {len(self.only_b)} only in B (Jaccard {self.jaccard:.3f})"
        )


def diff_circuits(a: Circuit, b: Circuit, name_a: str = "A", name_b: str = "B") -> CircuitDiff:
    """The tested edges each circuit keeps, side by side; both must be circuits of one graph."""
    if a.spec != b.spec:
        raise UserError(f"{name_a} and {name_b} are circuits of different graphs ({describe_spec(a.spec)}; {describe_spec(b.spec)}); diff compares two circuits of one model")
    states_a = {(e.sender, e.receiver): e for e in a.edges}
    states_b = {(e.sender, e.receiver): e for e in b.edges}
    sides: dict[DiffSide, list[DiffRow]] = {side: [] for side in DiffSide}
    graph = a.graph()
    for edge in graph.tested_edges:
        ea, eb = states_a[edge.key], states_b[edge.key]
        if ea.present or eb.present:
            side = DiffSide.BOTH if ea.present and eb.present else DiffSide.ONLY_A if ea.present else DiffSide.ONLY_B
            sides[side].append(DiffRow(edge, EdgeState.of(ea), EdgeState.of(eb)))
    return CircuitDiff(tuple(sides[DiffSide.ONLY_A]), tuple(sides[DiffSide.ONLY_B]), tuple(sides[DiffSide.BOTH]), len(graph.tested_edges))


def describe_spec(spec: GraphSpec) -> str:
    parts = [f"{spec.n_layers} layers", f"{spec.n_heads} heads", "attention only" if spec.attn_only else "with MLPs"]
    parts.append("separate embed and pos inputs" if spec.use_pos_embed else "one input node")
    return ", ".join(parts)


def kept_keys(c: Circuit) -> set[tuple[Node, Node]]:
    """The tested edges `c` keeps, as graph keys (what diff compares)."""
    return {(e.sender, e.receiver) for e in c.edges if e.present and e.type is not EdgeType.PLACEHOLDER}


def format_diff(result: CircuitDiff, changes_only: bool = False) -> str:
    """The text `acdc-tui diff` prints (and the explorer shows): rows by side, then a summary line."""
    sides = [DiffSide.ONLY_A, DiffSide.ONLY_B] + ([] if changes_only else [DiffSide.BOTH])
    lines: list[str] = []
    width = max((len(_edge_label(r)) for side in sides for r in result.rows(side)), default=0)
    for side in sides:
        rows = result.rows(side)
        lines.append(f"{side.value[0].upper()}{side.value[1:]} ({_count(len(rows))}):")
        lines += [f"  {_edge_label(r):<{width}}  A: {_state(r.a)}  B: {_state(r.b)}".rstrip() for r in rows]
    lines.append(f"Summary: {result.summary()}")
    return "\n".join(lines) + "\n"


def _edge_label(row: DiffRow) -> str:
    return f"{row.edge.sender.label} -> {row.edge.receiver.label}"


def _state(s: EdgeState) -> str:
    delta = "Δ n/a" if s.delta is None else f"Δ {s.delta:+.6g}"
    return f"{s.decision:<22} {delta:<14}"


def _count(n: int) -> str:
    return f"{n} edge" + ("" if n == 1 else "s")
