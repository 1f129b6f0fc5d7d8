"""Finding things by name: `/` jumps to a head, an MLP, a hook point or an edge in every tab (the
Edges tab's `/` filters its table), `y` copies the selected edge's name (OSC 52)."""

from __future__ import annotations

import re

from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import ComputationalGraph, Edge, Node, parse_node

EDGE_SPLIT = re.compile(r"\s*(?:->|→|\s)\s*")


def find(graph: ComputationalGraph, text: str) -> Node | Edge:
    """A node (label like `a3.0`, `m2`, `a1.0.q_in`, or hook name) or an edge (`a1.0 -> m2`, `a1.0 m2`); the
    first node whose label starts with the text when no name matches exactly. One line when nothing does."""
    t = text.strip()
    if not t:
        raise UserError("type a name, e.g. a3.0, m2, a1.0.q_in, or an edge: a0.0 -> m1")
    parts = [p for p in EDGE_SPLIT.split(t) if p]
    if len(parts) == 2:
        s, r = (_node(p, graph) for p in parts)
        if not graph.has_edge(s, r):
            raise UserError(f"there is no edge {s.label} -> {r.label} in this model's graph")
        return graph.edge(s, r)
    return _node(t, graph)


def _node(text: str, graph: ComputationalGraph) -> Node:
    lowered = text.lower()
    for n in graph.nodes:
        if n.label.lower() == lowered:
            return n
    starts = [n for n in graph.nodes if n.label.lower().startswith(lowered)]
    if starts:
        return min(starts, key=lambda n: len(n.label))
    return parse_node(text, graph)


def edge_name(edge: Edge) -> str:
    """What `--pin`, `--force-prune` and the journal accept: `SENDER->RECEIVER` in hook names."""
    return f"{edge.sender}->{edge.receiver}"


class FindMixin:
    """The app's `/` and `y` (a mixin of ExplorerApp: state, select, query_one)."""

    def action_find(self) -> None:
        from acdc_tui.ui.widgets.dialogs import Prompt

        if self.state is None:
            return
        tabs = self.query_one("#tabs")
        if tabs.active == "tab-edges":  # the Edges tab's `/` filters its table
            self.query_one("#edge-filter").focus()
            return

        def check(text: str) -> str | None:
            try:
                find(self.state.graph, text)
            except UserError as e:
                return str(e)
            return None

        def done(value: str | None) -> None:
            if value is not None:
                self.jump_to(find(self.state.graph, value))

        self.push_screen(Prompt("Jump to (a head, MLP or hook point by name; an edge as 'a0.0 -> m1')", "", check, "Every tab, the side bar and Details show it."), done)

    def jump_to(self, target: Node | Edge) -> None:
        """Select `target` everywhere; the Circuit tab centres it when its view can."""
        self.select(target)
        node = target.receiver if isinstance(target, Edge) else target
        self.query_one("#dag").jump_to(node.label)  # the Circuit tab: the strongest paths through it
        self.notify(f"{target.sender.label} → {target.receiver.label}" if isinstance(target, Edge) else target.label, title="found")

    def action_copy_name(self) -> None:
        """Copy the selected edge's (or node's) name to the clipboard with OSC 52."""
        target = self.selected
        if target is None:
            self.notify("Select an edge or a hook point first (side bar, Edges tab, or / to find one by name).", severity="warning")
            return
        text = edge_name(target) if isinstance(target, Edge) else str(target)
        self.copy_to_clipboard(text)
        self.notify(f"copied {text} (OSC 52: terminals that allow it put it on the clipboard)", title="copied")
