"""The ACDC computational graph at TransformerLens hook granularity.

Pure: built from a model shape alone (layers, heads, MLPs or not), no weights and no torch.
Node order, and the order of each receiver's senders, follow the reference implementation
(ArthurConmy/Automatic-Circuit-Discovery, `TLACDCCorrespondence.setup_from_model` plus
`TLACDCExperiment.reverse_topologically_sort_corr`, with main.py's "normal" name/index modes),
because ACDC's result depends on the order in which edges are tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Collection, Iterable, Mapping

import networkx as nx

from acdc_tui.core.architecture import HOOK_PREFIX, INPUT_KINDS, QKV, QKV_INPUT, Architecture, NodeKind, feeds, firing_rank, hook_name, kind_of


class EdgeType(str, Enum):
    """How a receiver depends on its senders (the reference's EdgeType)."""

    ADDITION = "addition"  # receiver input is a sum of sender outputs (residual stream)
    DIRECT_COMPUTATION = "direct_computation"  # q/k/v computed from its own q/k/v input
    PLACEHOLDER = "placeholder"  # structural link, never tested (q/k/v -> result, mlp_in -> mlp_out)


@dataclass(frozen=True, order=True)
class Node:
    """A hook point, or one head's slice of it (`head` is None for whole-tensor nodes)."""

    name: str
    head: int | None = None
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Nodes key every dict of the run (records, absent sets, views): hash once, not per lookup.
        object.__setattr__(self, "_hash", hash((self.name, self.head)))

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self):
        # string hashes differ between processes: a pickled node (Ray, multiprocessing) hashes anew
        return (Node, (self.name, self.head))

    @property
    def index_str(self) -> str:
        """The reference's TorchIndex repr: `[:]` or `[:, :, h]`."""
        return "[:]" if self.head is None else f"[:, :, {self.head}]"

    @property
    def layer(self) -> int | None:
        return int(self.name.split(".")[1]) if self.name.startswith("blocks.") else None

    @property
    def kind(self) -> NodeKind | str:
        """The node's role (a str enum: compares equal to `"output"`, `"q_input"`, ...)."""
        kind = kind_of(self.name)
        return kind if kind is not None else self.name.split(".")[-1].removeprefix(HOOK_PREFIX)

    @property
    def label(self) -> str:
        """Compact label for logs, DAGs and the command line (`a1.0`, `a1.0.q`, `m2`, ...)."""
        k, l, h = self.kind, self.layer, self.head
        if k in (NodeKind.EMBED, NodeKind.RESID_PRE):
            return "embed"
        if k is NodeKind.POS_EMBED:
            return "pos"
        if k is NodeKind.OUTPUT:
            return "out"
        if k is NodeKind.RESULT:
            return f"a{l}.{h}"
        if k in (NodeKind.Q, NodeKind.K, NodeKind.V):
            return f"a{l}.{h}.{k.value}"
        if k in (NodeKind.Q_INPUT, NodeKind.K_INPUT, NodeKind.V_INPUT):
            return f"a{l}.{h}.{k.value[0]}_in"
        if k is NodeKind.ATTN_SUM:
            return f"a{l}.sum"
        if k is NodeKind.ATTN_OUT:
            return f"a{l}.out"
        if k is NodeKind.MLP_IN:
            return f"m{l}.in"
        if k is NodeKind.MLP_OUT:
            return f"m{l}"
        return f"{self.name}{self.index_str}"

    def __str__(self) -> str:
        return f"{self.name}{self.index_str}"


@dataclass(frozen=True)
class Edge:
    """A sender -> receiver connection; its type is the receiver's incoming type."""

    sender: Node
    receiver: Node
    type: EdgeType

    @property
    def key(self) -> tuple[Node, Node]:
        return (self.sender, self.receiver)

    @property
    def tested(self) -> bool:
        """Placeholder edges are kept by default and never tested."""
        return self.type is not EdgeType.PLACEHOLDER

    def __str__(self) -> str:
        return f"{self.sender} -> {self.receiver}"


GraphSpec = Architecture  # the graph is built from an architecture description


class ComputationalGraph:
    """The model's ACDC graph, a networkx DiGraph underneath.

    Node insertion order is the visiting order (output first); each receiver's predecessors are
    inserted in the order its edges are tested. Node attribute `incoming` is the receiver's
    EdgeType, edge attribute `edge` the Edge object. Lists derived from it are cached, since the
    algorithm reads them on every step.
    """

    def __init__(self, spec: GraphSpec, dag: nx.DiGraph) -> None:
        self.spec, self.dag = spec, dag
        self.nodes: list[Node] = list(dag.nodes)
        self.incoming_type: dict[Node, EdgeType] = {n: dag.nodes[n]["incoming"] for n in self.nodes}
        self.incoming: dict[Node, list[Edge]] = {r: [dag.edges[s, r]["edge"] for s in dag.pred[r]] for r in self.nodes}
        self.edges: list[Edge] = [e for r in self.nodes for e in self.incoming[r]]  # by receiver, in visiting order
        self.tested_edges: list[Edge] = [e for e in self.edges if e.tested]

    def edge(self, sender: Node, receiver: Node) -> Edge:
        return self.dag.edges[sender, receiver]["edge"]

    def has_edge(self, sender: Node, receiver: Node) -> bool:
        return self.dag.has_edge(sender, receiver)

    def outgoing(self, node: Node) -> list[Edge]:
        return [self.dag.edges[node, r]["edge"] for r in self.dag.succ[node]]

    @property
    def output_node(self) -> Node:
        return self.nodes[0]

    @property
    def input_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.kind in INPUT_KINDS]

    def hook_names(self) -> list[str]:
        """Distinct hook names in visiting order."""
        return list(dict.fromkeys(n.name for n in self.nodes))

    def to_networkx(self, present: Iterable[Edge] | None = None) -> nx.DiGraph:
        """A DiGraph of all nodes and the `present` edges (default all), edge attribute `type`."""
        g = nx.DiGraph()
        g.add_nodes_from(self.nodes)
        for e in self.edges if present is None else present:
            g.add_edge(e.sender, e.receiver, type=e.type)
        return g


Absent = Mapping[Node, Collection[Node]]  # receiver -> senders whose edge is absent
EdgeKey = tuple[str, int | None, str, int | None]  # sender hook, head, receiver hook, head (as files store edges)


class _ReferenceInsertion:
    """The reference's `setup_from_model` walk: nodes, their incoming edge type, and each receiver's
    senders grouped by hook name, all in insertion order."""

    def __init__(self, spec: Architecture) -> None:
        self.spec = spec
        self.node_type: dict[Node, EdgeType] = {}
        self.node_order: list[Node] = []
        self.senders: dict[Node, dict[str, list[Node]]] = {}  # receiver -> sender hook name -> senders in insertion order
        self.downstream: list[Node] = []  # every node that reads the residual stream, so far

    def node(self, kind: NodeKind, layer: int | None = None, head: int | None = None) -> Node:
        return Node(hook_name(kind, layer, self.spec.n_layers), head)

    def add_node(self, n: Node, incoming: EdgeType) -> None:
        self.node_type[n] = incoming
        self.node_order.append(n)
        self.senders[n] = {}

    def add_edge(self, sender: Node, receiver: Node) -> None:
        self.senders[receiver].setdefault(sender.name, []).append(sender)

    def add_writer(self, n: Node, kind: NodeKind, layer: int | None) -> None:
        for r in self.downstream:
            if feeds(self.spec, kind, layer, r.kind, r.layer):
                self.add_edge(n, r)

    def add_output(self) -> None:
        out = self.node(NodeKind.OUTPUT)
        self.add_node(out, EdgeType.ADDITION)
        self.downstream.append(out)

    def add_unit(self, writer_kind: NodeKind, reader_kind: NodeKind, layer: int) -> None:
        """A whole-tensor unit (MLP, post-attention norm): its output writes, its input reads the residual."""
        writer, reader = self.node(writer_kind, layer), self.node(reader_kind, layer)
        self.add_node(writer, EdgeType.PLACEHOLDER)
        self.add_writer(writer, writer_kind, layer)
        self.add_node(reader, EdgeType.ADDITION)
        self.add_edge(reader, writer)
        self.downstream.append(reader)

    def add_heads(self, layer: int) -> None:
        """The layer's heads, last first; a key/value head's k and v come with the first head of its group."""
        spec = self.spec
        results = {h: self.node(NodeKind.RESULT, layer, h) for h in range(spec.n_heads)}
        new_readers = []
        for h in range(spec.n_heads - 1, -1, -1):
            self.add_node(results[h], EdgeType.PLACEHOLDER)
            self.add_writer(results[h], NodeKind.RESULT, layer)
            first_of_group = h % spec.group_size == 0  # the group's first head (visited last) brings its k and v nodes
            for x in "qkv":
                if x != "q" and not first_of_group:
                    continue
                head = h if x == "q" else h // spec.group_size
                qkv, qkv_in = self.node(QKV[x], layer, head), self.node(QKV_INPUT[x], layer, head)
                self.add_node(qkv, EdgeType.DIRECT_COMPUTATION)
                self.add_node(qkv_in, EdgeType.ADDITION)
                for result in ([results[g] for g in range(h, h + spec.group_size)] if x != "q" else [results[h]]):
                    self.add_edge(qkv, result)
                self.add_edge(qkv_in, qkv)
                new_readers.append(qkv_in)
        self.downstream.extend(new_readers)  # after the layer: heads never feed heads of their own layer

    def add_inputs(self) -> None:
        for kind in self.spec.input_kinds():
            n = self.node(kind)
            self.add_node(n, EdgeType.PLACEHOLDER)
            self.add_writer(n, kind, None)


def build_graph(spec: Architecture) -> ComputationalGraph:
    """Build the graph the way the reference's `setup_from_model` does, then sort it.

    The reference inserts nodes and edges while walking layers from last to first and heads from
    last to first; each receiver tests its senders grouped by hook name in first-insertion order,
    each group in insertion order. Nodes are visited in reverse hook-firing order, heads of one
    hook in insertion order (last head first). Which writer feeds which reader comes from the
    architecture (`feeds`): with grouped-query attention a key/value head's k and v nodes are
    added with the first head of its group, and feed every head of the group.
    """
    walk = _ReferenceInsertion(spec)
    walk.add_output()
    for layer in range(spec.n_layers - 1, -1, -1):
        if not spec.attn_only:
            walk.add_unit(NodeKind.MLP_OUT, NodeKind.MLP_IN, layer)
        if spec.post_norm:  # the post-attention norm: its input reads the layer's heads, its output writes the residual
            walk.add_unit(NodeKind.ATTN_OUT, NodeKind.ATTN_SUM, layer)
        walk.add_heads(layer)
    walk.add_inputs()

    rank = firing_rank(spec)
    insertion = {n: i for i, n in enumerate(walk.node_order)}
    dag = nx.DiGraph()
    for r in sorted(walk.node_order, key=lambda n: (-rank[n.name], insertion[n])):
        dag.add_node(r, incoming=walk.node_type[r])
    for r in dag.nodes:
        for s in (s for group in walk.senders[r].values() for s in group):
            dag.add_edge(s, r, edge=Edge(s, r, walk.node_type[r]))
    return ComputationalGraph(spec, dag)


def parse_node(text: str, graph: ComputationalGraph) -> Node:
    """Parse a hook name with a head index (`NAME[3]` or `NAME[:, :, 3]`, as the architecture names hooks) or a label like `a1.3`."""
    from acdc_tui.core.errors import UserError

    t = text.strip()
    by_label = {n.label: n for n in graph.nodes}
    by_str = {str(n): n for n in graph.nodes}
    if t in by_label:
        return by_label[t]
    if t in by_str:
        return by_str[t]
    name, head = t, None
    if t.endswith("]") and "[" in t:
        name, idx = t[:-1].split("[", 1)
        last = idx.replace(" ", "").split(",")[-1]
        head = None if last in (":", "") else int(last) if last.isdigit() else -1
    node = Node(name, head)
    if node in by_str.values():
        return node
    import difflib

    close = difflib.get_close_matches(t, list(by_label) + list(by_str), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UserError(f"unknown hook point {t!r} in this model's graph{hint}: use a hook name with head index, e.g. '{hook_name(NodeKind.RESULT, 0)}[0]', or a label like 'a0.0'")


def parse_edge(text: str, graph: ComputationalGraph) -> Edge:
    """Parse `SENDER->RECEIVER` (hook names or labels)."""
    from acdc_tui.core.errors import UserError

    if "->" not in text:
        raise UserError(f"edge {text!r} is not of the form SENDER->RECEIVER, e.g. 'a0.0->a1.0.k_in'")
    s, r = (parse_node(p, graph) for p in text.split("->", 1))
    if not graph.has_edge(s, r):
        raise UserError(f"there is no edge {s} -> {r} in this model's graph: senders must write to the residual stream before the receiver reads it")
    return graph.edge(s, r)
