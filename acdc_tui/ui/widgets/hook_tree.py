"""The side bar: model -> layers -> hook points -> incoming edges, each with its state.

Children are created when a branch is first expanded, so GPT-2 small's 32,923 edges cost
nothing until looked at; labels of nodes already created are updated as the run goes.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from acdc_tui.core.architecture import TREE_ORDER
from acdc_tui.core.graph import Edge, Node
from acdc_tui.ui.cell_states import ASCII_MARKS, MARKS, CellState
from acdc_tui.ui.state import ExplorerState, edge_state, format_delta

STATE_STYLE = {"pending": "dim", "current": "black on yellow", "alive": "green", "dead": "red strike"}
EDGE_STYLE = {"pending": "dim", "kept": "green", "removed": "red", "structural": "dim"}


def group_of(node: Node) -> str:
    if node.kind == "output":
        return "output"
    return "inputs" if node.layer is None or node.kind == "resid_pre" else f"layer {node.layer}"


class HookTree(Tree, inherit_bindings=False):
    """A Tree whose space key is left to the app (run / pause)."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("right", "expand", "Expand", show=False),
        Binding("left", "collapse", "Collapse", show=False),
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("shift+left", "cursor_parent", "Parent", show=False),
        Binding("pageup", "page_up", show=False),
        Binding("pagedown", "page_down", show=False),
        Binding("home", "scroll_home", show=False),
        Binding("end", "scroll_end", show=False),
    ]

    def __init__(self, state: ExplorerState, title: str, ascii_only: bool = False, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(title, id=id, classes=classes)
        self.state, self.ascii_only = state, ascii_only
        self.node_items: dict[Node, TreeNode] = {}
        self.edge_items: dict[tuple[Node, Node], TreeNode] = {}
        self.groups: dict[str, TreeNode] = {}
        self.show_root = True
        # Groups top to bottom like the model: inputs, layer 0.., output.
        order = sorted({group_of(n) for n in state.graph.nodes}, key=lambda g: (g != "inputs", g == "output", int(g.split()[1]) if g.startswith("layer") else 0))
        for g in order:
            self.groups[g] = self.root.add(g, data=("group", g))
        self.root.expand()

    # ---- expansion ----

    def action_expand(self) -> None:
        node = self.cursor_node
        if node is not None and node.allow_expand:
            node.expand()

    def action_collapse(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded and node.allow_expand:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        self.populate(event.node)

    def populate(self, item: TreeNode) -> None:
        kind, value = item.data or (None, None)
        if item.children or kind not in ("group", "node"):
            return
        if kind == "group":
            members = sorted((n for n in self.state.graph.nodes if group_of(n) == value), key=_within_layer)
            for n in members:
                has_edges = any(e.tested for e in self.state.graph.incoming[n])
                self.node_items[n] = item.add(self.node_label(n), data=("node", n), allow_expand=has_edges)
        else:
            for e in self.state.graph.incoming[value]:
                if e.tested:
                    self.edge_items[e.key] = item.add_leaf(self.edge_label(e), data=("edge", e))

    def reveal(self, target: Node | Edge) -> None:
        """Expand down to `target` and put the cursor on it (without re-announcing the selection)."""
        node = target if isinstance(target, Node) else target.receiver
        group = self.groups[group_of(node)]
        group.expand()
        self.populate(group)
        item = self.node_items[node]
        if isinstance(target, Edge):
            item.expand()
            self.populate(item)
            item = self.edge_items.get(target.key, item)
        self.move_cursor(item)
        self.scroll_to_node(item, animate=False)

    # ---- labels ----

    def node_label(self, n: Node) -> Text:
        state = self.state.node_state(n)
        kept, removed, total = self.state.in_counts(n)
        mark = (ASCII_MARKS if self.ascii_only else MARKS)[CellState(state)]
        text = Text(f"{mark} {n.label}", style=STATE_STYLE[state])
        if total:
            text.append(f"  {kept}", style="green")
            text.append("/", style="dim")
            text.append(f"{removed}", style="red")
            text.append(f"/{total}", style="dim")
        return text

    def edge_label(self, e: Edge) -> Text:
        v = self.state.view(e)
        state = edge_state(e, v)
        arrow = "<-" if self.ascii_only else "←"
        text = Text(f"{arrow} {e.sender.label:<7}", style=EDGE_STYLE[state])
        text.append(f" {format_delta(v.delta)} {state}")  # Δ first and unpadded: a narrow side bar cuts the state, not Δ's digits
        flags = self.state.flags(e)
        if flags:
            text.append(f" {flags}", style="yellow bold")
        return text

    def refresh_items(self, nodes: set[Node], edges: set[tuple[Node, Node]]) -> None:
        for n in nodes:
            if n in self.node_items:
                self.node_items[n].set_label(self.node_label(n))
        for k in edges:
            if k in self.edge_items:
                self.edge_items[k].set_label(self.edge_label(self.edge_items[k].data[1]))

    def refresh_all(self) -> None:
        self.refresh_items(set(self.node_items), set(self.edge_items))


def _within_layer(n: Node) -> tuple:
    """Inside a layer: heads in order, each q/k/v input, q/k/v, result; then the MLP."""
    return (n.head if n.head is not None else 99, TREE_ORDER.get(n.kind, 9))
