"""The model as a map of cells: the inputs, one cell per attention head, one per MLP, the output.

Pure (no textual): the overview draws these cells and the circuit view aggregates a head's hook
points into its cell. Cells are derived from the graph's nodes (`Node.kind`, `layer`, `head`), not
from hook names, so any architecture the graph describes gets a map. With grouped-query attention
(fewer k/v heads than query heads) the k/v hook points of one KV head form a cell of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from acdc_tui.core.graph import ComputationalGraph, Node

KV_KINDS = ("k_input", "k", "v_input", "v")
POST_NORM = ("attn_sum", "attn_out")  # the post-attention norm's input and output (Gemma-2/3, OLMo-2)


class CellKind(str, Enum):
    INPUT = "input"
    HEAD = "head"
    KV_HEAD = "kv_head"  # grouped-query attention: one KV head's k/v hook points
    BLOCK = "block"  # a layer's whole-tensor hook points (the MLP)
    OUTPUT = "output"


@dataclass(frozen=True, eq=False)
class Cell:
    """A group of hook points shown as one unit; compared by identity (one map per graph)."""

    kind: CellKind
    label: str  # a3.4, a3.kv1, m3, embed, out
    layer: int | None
    index: int | None  # head or KV-head index
    members: tuple[Node, ...]  # in the graph's visiting order
    outputs: tuple[Node, ...]  # members with an out-edge leaving the cell: its liveness


@dataclass
class LayerCells:
    layer: int
    heads: list[Cell] = field(default_factory=list)  # by head index
    kv_heads: list[Cell] = field(default_factory=list)
    blocks: list[Cell] = field(default_factory=list)  # MLP (and any other whole-tensor hook point)


def kind_name(node: Node) -> str:
    """The node's kind as a plain string (an enum's value or a string)."""
    kind = node.kind
    return getattr(kind, "value", kind)


def _is_input(node: Node) -> bool:
    return kind_name(node) in ("embed", "pos_embed", "resid_pre")


class ModelMap:
    def __init__(self, graph: ComputationalGraph) -> None:
        self.graph = graph
        self.inputs: list[Cell] = []
        self.layers: list[LayerCells] = []
        self.output: Cell | None = None
        self.cell_of: dict[Node, Cell] = {}
        self._grouped_query_layers = _grouped_query_layers(graph)
        self._build()

    @property
    def cells(self) -> list[Cell]:
        """Every cell, inputs first, then layer by layer, the output last."""
        out = list(self.inputs)
        for row in self.layers:
            out += row.heads + row.kv_heads + row.blocks
        return out + ([self.output] if self.output else [])

    def _build(self) -> None:
        groups: dict[tuple, list[Node]] = {}
        for node in self.graph.nodes:
            groups.setdefault(self._group_key(node), []).append(node)
        layers: dict[int, LayerCells] = {}
        for key, members in groups.items():
            cell = self._cell(key, members)
            for n in members:
                self.cell_of[n] = cell
            if cell.kind is CellKind.INPUT:
                self.inputs.append(cell)
            elif cell.kind is CellKind.OUTPUT:
                self.output = cell
            else:
                row = layers.setdefault(cell.layer, LayerCells(cell.layer))
                {CellKind.HEAD: row.heads, CellKind.KV_HEAD: row.kv_heads, CellKind.BLOCK: row.blocks}[cell.kind].append(cell)
        order = {n: i for i, n in enumerate(self.graph.nodes)}
        self.inputs.sort(key=lambda c: order[c.members[0]], reverse=True)  # firing order
        for row in layers.values():
            row.heads.sort(key=lambda c: c.index)
            row.kv_heads.sort(key=lambda c: c.index)
            row.blocks.sort(key=lambda c: c.label)
        self.layers = [layers[k] for k in sorted(layers)]

    def _group_key(self, node: Node) -> tuple:
        kind = kind_name(node)
        if _is_input(node):
            return (CellKind.INPUT, node)
        if kind == "output":
            return (CellKind.OUTPUT,)
        if node.layer is None:  # an unknown whole-model hook point: a cell of its own
            return (CellKind.BLOCK, -1, node)
        if node.head is None:  # the MLP; post-norm families' post-attention norm is a block of its own
            return (CellKind.BLOCK, node.layer, "attn" if kind in POST_NORM else "block")
        if kind in KV_KINDS and node.layer in self._grouped_query_layers:
            return (CellKind.KV_HEAD, node.layer, node.head)
        return (CellKind.HEAD, node.layer, node.head)

    def _cell(self, key: tuple, members: list[Node]) -> Cell:
        kind = key[0]
        inside = set(members)
        outputs = tuple(n for n in members if any(r not in inside for r in self.graph.dag.succ[n]))
        if kind is CellKind.OUTPUT:
            outputs = tuple(members)
        layer = members[0].layer
        if kind is CellKind.HEAD:
            label, index = f"a{layer}.{members[0].head}", members[0].head
        elif kind is CellKind.KV_HEAD:
            label, index = f"a{layer}.kv{members[0].head}", members[0].head
        elif kind is CellKind.BLOCK and key[1] != -1:
            mlp_out = [n for n in members if kind_name(n) in ("mlp_out", "attn_out")]
            label, index = (mlp_out or members)[0].label, None
        else:
            label, index = members[0].label, None
        return Cell(kind, label, layer, index, tuple(members), outputs or tuple(members[:1]))

    @staticmethod
    def node_of(cell: Cell) -> Node:
        """The node that stands for a cell when it is selected: its first output (a head's result, the MLP's output)."""
        return cell.outputs[0]


def _grouped_query_layers(graph: ComputationalGraph) -> set[int]:
    """Layers with fewer k heads than query heads (grouped-query attention)."""
    heads: dict[tuple[int, str], set[int]] = {}
    for n in graph.nodes:
        if n.head is not None and kind_name(n) in ("q", "k"):
            heads.setdefault((n.layer, kind_name(n)), set()).add(n.head)
    return {layer for (layer, kind) in heads if kind == "k" and len(heads[layer, "k"]) < len(heads.get((layer, "q"), ()))}
