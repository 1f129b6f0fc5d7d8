"""The Details tab: the selected node or edge, its numbers and its history."""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from acdc_tui.core.graph import Edge, Node
from acdc_tui.ui.overview_render import describe
from acdc_tui.ui.state import ExplorerState, edge_flags, edge_state, format_delta


def edge_details(state: ExplorerState, e: Edge) -> Text:
    v = state.view(e)
    t = Text()
    t.append(f"{e.sender.label} → {e.receiver.label}\n", style="bold")
    t.append(f"{e.sender} → {e.receiver}\n\n", style="dim")
    rows = [
        ("type", e.type.value),
        ("state", edge_state(e, v)),
        ("decided by", v.decided_by or "not yet"),
        ("Δ (new − old metric)", format_delta(v.delta) or "not measured"),
        ("threshold rule said", "—" if v.tested_present is None else ("keep" if v.tested_present else "remove")),
        ("override", edge_flags(v) or "none"),
        *([("dangling", f"yes: {e.receiver.label} no longer reaches the output; kept, but it carries nothing")] if e.key in state.dangling else []),
        ("step", "—" if v.seq is None else str(v.seq)),
    ]
    if state.scores is not None and e.key in state.scores:
        disagreement = state.disagreement.get(e.key, 0.0)
        mark = "  ≠ among the most disagreeing" if e.key in state.disagree_marked else ""
        rows += [
            ("attribution score", f"{state.scores[e.key]:+.4g}"),
            ("attribution disagrees", f"{disagreement:.3f}{mark}" if e.key in state.disagreement else "— (not decided yet)"),
        ]
    for k, val in rows:
        t.append(f"{k:>22}  ", style="dim")
        t.append(f"{val}\n")
    history = state.history.get(e.key, [])
    t.append("\nHistory\n", style="bold")
    t.append("\n".join(history) if history else "no events yet", style="" if history else "dim")
    return t


def node_details(state: ExplorerState, n: Node) -> Text:
    kept, removed, total = state.in_counts(n)
    t = Text()
    t.append(f"{n.label}\n", style="bold")
    t.append(f"{n}\n\n", style="dim")
    t.append(f"{'state':>22}  {state.node_state(n)}\n")
    t.append(f"{'incoming type':>22}  {state.graph.incoming_type[n].value}\n")
    t.append(f"{'tested in-edges':>22}  {kept} kept, {removed} removed, {total - kept - removed} undecided, {total} in all\n")
    outs = [e for e in state.graph.outgoing(n) if state.view(e).present]
    t.append(f"{'present out-edges':>22}  {len(outs)} of {len(state.graph.outgoing(n))}\n")
    cell = state.cells.map.cell_of[n]
    if len(cell.members) > 1:  # a head or an MLP: the Overview's cell, all its hook points together
        t.append(f"{'in the Overview':>22}  {describe(state.cells.summary(cell))}\n")
    t.append("\n")
    t.append("Incoming edges\n", style="bold")
    for e in state.graph.incoming[n]:
        v = state.view(e)
        s = edge_state(e, v)
        t.append(f"  ← {e.sender.label:<12} {format_delta(v.delta):>11}  {s}", style={"kept": "green", "removed": "red"}.get(s, "dim"))
        t.append(f"  {state.flags(e)}\n", style="yellow")
    return t


class Details(VerticalScroll):

    def __init__(self, state: ExplorerState, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = state
        self.target: Node | Edge | None = None
        self._stale = False
        self._height = 0

    def compose(self):
        yield Static("Select a hook point or an edge (side bar, Edges tab) to see it here.", id="details-body")

    def show(self, target: Node | Edge | None) -> None:
        self.target = target
        self.refresh_body()

    def refresh_body(self) -> None:
        """Show the target's current numbers; a hidden tab waits until it is shown."""
        if not self.is_on_screen:
            self._stale = True
            return
        self._stale = False
        if isinstance(self.target, Edge):
            text = edge_details(self.state, self.target)
        elif isinstance(self.target, Node):
            text = node_details(self.state, self.target)
        else:
            return
        height = len(text.plain.splitlines())
        # a layout pass repaints the whole screen: only when the text's height changed
        self.query_one("#details-body", Static).update(text, layout=height != self._height)
        self._height = height

    def on_show(self) -> None:
        if self._stale:
            self.refresh_body()
