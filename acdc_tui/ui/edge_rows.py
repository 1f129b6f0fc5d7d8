"""The Edges tab's rows: which edges pass the filter, in which order, and each row's cells.

Pure (no textual). Filtering and sorting all 32,923 edges of GPT-2 small take tens of
milliseconds: the words that never change (labels, hook names, type) are joined once per edge,
only the state words are looked up at filter time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from acdc_tui.core.graph import Edge
from acdc_tui.runs.driver import EdgeView
from acdc_tui.ui.state import ExplorerState, edge_flags, edge_state, format_delta


@dataclass(frozen=True)
class Column:
    name: str
    width: int
    right: bool = False  # right-justified


COLUMNS = (
    Column("step", 6, True),
    Column("sender", 12),
    Column("receiver", 12),
    Column("type", 18),
    Column("state", 10),
    Column("Δ", 11, True),
    Column("attr", 9, True),  # attribution score, when the explorer was given --scores
    Column("flags", 17),
)
NARROW_DROPS = ("type",)  # dropped when the table is narrower than its columns (80x24): the type is in Details


# Sort orders, cycled by `s`; None keeps the visiting order. Keys see the state, the edge and its
# view; edges without a value (not yet decided, no score) sort last.
SORTS: dict[str, Callable[[ExplorerState, Edge, EdgeView], object] | None] = {
    "visiting order": None,
    "Δ": lambda s, e, v: -v.delta if v.delta is not None else math.inf,
    "step": lambda s, e, v: v.seq if v.seq is not None else math.inf,
    "sender": lambda s, e, v: e.sender.label,
    "receiver": lambda s, e, v: e.receiver.label,
    "state": lambda s, e, v: edge_state(e, v),
    "attr": lambda s, e, v: -abs(s.scores[e.key]) if s.scores and e.key in s.scores else math.inf,
    "disagreement": lambda s, e, v: -s.disagreement.get(e.key, -1.0) if s.scores else math.inf,
}
STATIC_SORTS = {"visiting order", "sender", "receiver", "attr"}  # orders a run's progress cannot change
ATTRIBUTION = {"attr", "disagreement"}  # a column and sorts shown only when scores are loaded


class EdgeRows:
    """All edges of a state; `select` gives the indices (into `edges`) of the rows to show."""

    def __init__(self, state: ExplorerState) -> None:
        self.state = state
        self.edges: list[Edge] = list(state.graph.edges)
        self.keys = [e.key for e in self.edges]
        self.index = {k: i for i, k in enumerate(self.keys)}
        names = {n: f"{n.label} {n}".lower() for n in state.graph.nodes}
        self._static = [f"{names[e.sender]} {names[e.receiver]} {e.type.value}" for e in self.edges]
        self._tested = [e.tested for e in self.edges]
        self._dynamic: dict[tuple, str] = {}  # (tested, present, decided_by, pinned, forced, dangling) -> its words
        self.width: int | None = None  # the table's width, once known: narrow tables drop NARROW_DROPS
        self.note_changed(self.keys)

    @property
    def columns(self) -> tuple[Column, ...]:
        columns = COLUMNS if self.state.scores else tuple(c for c in COLUMNS if c.name not in ATTRIBUTION)
        if self.width is not None and sum(c.width + 1 for c in columns) > self.width:
            columns = tuple(c for c in columns if c.name not in NARROW_DROPS)
        return columns

    def sort_names(self) -> list[str]:
        """The orders `s` cycles through."""
        return [name for name in SORTS if self.state.scores or name not in ATTRIBUTION]

    def words(self, i: int) -> str:
        """What a filter matches against: labels, hook names, type, state, flags, who decided."""
        return f"{self._static[i]} {self._state_words(self.edges[i], self.state.edges[self.keys[i]])}"

    def _state_words(self, e: Edge, v: EdgeView) -> str:
        dangling = e.key in self.state.dangling
        key = (e.tested, v.present, v.decided_by, v.pinned, v.forced, dangling)
        words = self._dynamic.get(key)
        if words is None:
            words = self._dynamic[key] = f"{edge_state(e, v)} {edge_flags(v, dangling)} {v.decided_by or ''}"
        return words

    def note_changed(self, keys) -> None:
        """Learn the state words of changed edges, so `select` knows every combination present."""
        for k in keys:
            self._state_words(self.edges[self.index[k]], self.state.edges[k])

    def select(self, terms: list[str], sort: str = "visiting order", reverse: bool = False) -> list[int]:
        """Rows whose words contain every term (lower case), sorted by `sort`."""
        rows = list(range(len(self.edges)))
        static, keys, views, tested, dangling = self._static, self.keys, self.state.edges, self._tested, self.state.dangling
        for term in terms:
            matches = {combo: term in words for combo, words in self._dynamic.items()}
            if not any(matches.values()):  # a label or hook name: the state words cannot match
                rows = [i for i in rows if term in static[i]]
                continue
            rows = [i for i in rows if term in static[i] or matches[tested[i], (v := views[keys[i]]).present, v.decided_by, v.pinned, v.forced, keys[i] in dangling]]
        key = SORTS[sort]
        if key is not None:
            edges = self.edges
            state = self.state
            values = [key(state, edges[i], views[keys[i]]) for i in rows]
            order = sorted(range(len(rows)), key=values.__getitem__)
            rows = [rows[j] for j in order]
        if reverse:
            rows.reverse()
        return rows

    def depends_on_state(self, terms: list[str], sort: str) -> bool:
        """Whether the selection can change as the run goes (a state word filtered on, or a live sort)."""
        return bool(terms) or sort not in STATIC_SORTS

    def cells(self, i: int) -> tuple[tuple[str, ...], str]:
        """A row's texts, one per column of `columns`, and the edge's state (for colour)."""
        e = self.edges[i]
        v = self.state.edges[e.key]
        state = edge_state(e, v)
        score = self.state.scores.get(e.key) if self.state.scores else None
        flags = self.state.flags(e)
        if e.key in self.state.disagree_marked:  # attribution and ACDC disagree most here
            flags = f"≠ {flags}".strip()
        texts = {
            "step": "" if v.seq is None else str(v.seq), "sender": e.sender.label, "receiver": e.receiver.label, "type": e.type.value,
            "state": state, "Δ": format_delta(v.delta), "attr": "" if score is None else f"{score:+.3g}", "flags": flags,
        }
        return tuple(texts[c.name] for c in self.columns), state
