"""Where everything sits in the fast engine's matrices: the sender columns, the stages of the forward
pass that read and write them, and which stage (and q/k/v row) each receiver of the graph is."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from acdc_tui.core.architecture import NodeKind, hook_name
from acdc_tui.core.graph import ComputationalGraph, EdgeType, Node
from acdc_tui.engines.fast_forward import Weights

QKV_ROW = {NodeKind.Q: 0, NodeKind.K: 1, NodeKind.V: 2}  # a q/k/v node's row in a layer's [3, heads] table
QKV_INPUT_ROW = {NodeKind.Q_INPUT: 0, NodeKind.K_INPUT: 1, NodeKind.V_INPUT: 2}
QKV_KINDS = (NodeKind.Q, NodeKind.K, NodeKind.V)
QKV_INPUT_KINDS = (NodeKind.Q_INPUT, NodeKind.K_INPUT, NodeKind.V_INPUT)


class StageKind(Enum):
    """One step of the forward pass: a layer's attention, its post-attention norm (post-norm families),
    its MLP, or the output (the unembedding)."""

    ATTN = "attn"
    POST = "post"
    MLP = "mlp"
    OUT = "out"


@dataclass(eq=False)
class Stage:
    """A step of the forward pass. It reads the sender columns below `n_below` that `reads` marks (all of
    them, except that with post-norms heads feed only their layer's post-norm) and writes `columns`."""

    index: int
    kind: StageKind
    layer: int | None
    n_below: int
    columns: list[int]
    reads: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def span(self) -> slice:
        """The written columns, as a slice (they are consecutive)."""
        return slice(self.columns[0], self.columns[-1] + 1) if self.columns else slice(0, 0)


@dataclass(frozen=True)
class Receiver:
    """A graph receiver's place: its stage, its (q/k/v, head) row for attention inputs, and whether it is
    a q/k/v output (patched directly with its ablated value) rather than an input mixed from senders."""

    stage: Stage
    row: tuple[int, int] | None
    direct: bool


class Layout:
    """Senders: input nodes, then per layer its heads' results, (post-norms) its normed attention output,
    its MLP output. Stages in forward order, the output last. Receivers: every non-placeholder node."""

    def __init__(self, weights: Weights, graph: ComputationalGraph) -> None:
        self.inputs = list(graph.input_nodes)
        self.has_mlp, self.post_norm, self.n_heads = weights.has_mlp, weights.post_norm, weights.n_heads
        self.senders: list[Node] = list(self.inputs)
        for layer in range(weights.n_layers):
            self.senders += [Node(hook_name(NodeKind.RESULT, layer), head) for head in range(weights.n_heads)]
            if self.post_norm:
                self.senders.append(Node(hook_name(NodeKind.ATTN_OUT, layer)))
            if self.has_mlp:
                self.senders.append(Node(hook_name(NodeKind.MLP_OUT, layer)))
        self.n_senders = len(self.senders)
        self.sender_index = {sender: i for i, sender in enumerate(self.senders)}
        self.sender_columns: dict[str, list[tuple[int, int | None]]] = {}  # hook name -> (column, head)
        for i, sender in enumerate(self.senders):
            self.sender_columns.setdefault(sender.name, []).append((i, sender.head))
        self.stages = self._stages(weights)
        self.attn_stage = self._by_layer(StageKind.ATTN)
        self.post_stage = self._by_layer(StageKind.POST)
        self.mlp_stage = self._by_layer(StageKind.MLP)
        self.out_stage = self.stages[-1]
        self.receivers = self._receivers(graph)
        self.single_receiver = {place.stage.index: node for node, place in self.receivers.items() if place.stage.kind is not StageKind.ATTN}

    def _by_layer(self, kind: StageKind) -> dict[int, Stage]:
        return {stage.layer: stage for stage in self.stages if stage.kind is kind}

    def _stages(self, weights: Weights) -> list[Stage]:
        heads, post, mlp = weights.n_heads, int(self.post_norm), int(self.has_mlp)
        stages: list[Stage] = []
        head_columns = np.zeros(self.n_senders, dtype=bool)
        for layer in range(weights.n_layers):
            first = len(self.inputs) + layer * (heads + post + mlp)  # the layer's heads, (post-norms) its attention output, then its MLP
            stages.append(Stage(len(stages), StageKind.ATTN, layer, first, list(range(first, first + heads))))
            head_columns[first : first + heads] = True
            if post:  # reads its own layer's heads only
                stages.append(Stage(len(stages), StageKind.POST, layer, first + heads, [first + heads]))
            if mlp:  # in parallel blocks the MLP reads what the heads read, not their results
                stages.append(Stage(len(stages), StageKind.MLP, layer, first + (0 if weights.parallel else heads + post), [first + heads + post]))
        stages.append(Stage(len(stages), StageKind.OUT, None, self.n_senders, []))
        for stage in stages:
            stage.reads = np.ones(stage.n_below, dtype=bool)
            if post:
                stage.reads = ~head_columns[: stage.n_below]
                if stage.kind is StageKind.POST:
                    stage.reads = np.zeros(stage.n_below, dtype=bool)
                    stage.reads[stage.n_below - heads :] = True
        return stages

    def _receivers(self, graph: ComputationalGraph) -> dict[Node, Receiver]:
        receivers: dict[Node, Receiver] = {}
        for node in graph.nodes:
            if graph.incoming_type[node] is EdgeType.PLACEHOLDER:
                continue
            kind = node.kind
            if kind in QKV_INPUT_KINDS:
                receivers[node] = Receiver(self.attn_stage[node.layer], (QKV_INPUT_ROW[kind], node.head), False)
            elif kind in QKV_KINDS:
                receivers[node] = Receiver(self.attn_stage[node.layer], (QKV_ROW[kind], node.head), True)
            elif kind == NodeKind.MLP_IN:
                receivers[node] = Receiver(self.mlp_stage[node.layer], None, False)
            elif kind == NodeKind.ATTN_SUM:
                receivers[node] = Receiver(self.post_stage[node.layer], None, False)
            elif kind == NodeKind.OUTPUT:
                receivers[node] = Receiver(self.out_stage, None, False)
            else:  # pragma: no cover - the graph has no other receivers
                raise AssertionError(node)
        return receivers

    def row_mask(self, receiver: Node, absent: frozenset) -> np.ndarray:
        """Which sender columns below the receiver's stage feed it, with `absent` removed."""
        mask = self.receivers[receiver].stage.reads.copy()
        if absent:
            mask[[self.sender_index[sender] for sender in absent]] = False
        return mask
