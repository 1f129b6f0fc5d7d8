"""EAP-IG / MIB graph JSON (hannamw/EAP-IG `Graph.to_json`), written from and read into our circuits.

Layout:

    {"cfg":   {"n_layers", "n_heads", "parallel_attn_mlp", "d_model"},
     "nodes": {"input" | "a{L}.h{H}" | "m{L}" | "logits": {"in_graph": bool}},
     "edges": {"SENDER->RECEIVER" (+ "<q>"/"<k>"/"<v>" into a head): {"score": float, "in_graph": bool}}}

Its graph is ours folded (docs/circuit-files.md, "EAP-IG / MIB graph JSON", gives the mapping edge by edge):
EAP's node `a{L}.h{H}` is our head result with its q/k/v and q/k/v-input nodes, `m{L}` our
MLP in/out pair, `input` our input node(s), `logits` our output. An EAP edge `S->a{L}.h{H}<q>`
is in the graph iff our edge S -> q_input is present and so are the structural links behind it
(q_input -> q, tested by ACDC, and the placeholder q -> result); its score is that edge's Δ.
Reading reverses this: a head or MLP is in use iff an in-graph edge enters or leaves it, its
placeholders are then present, and q_input -> q is present iff an edge into q_input is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import orjson

from acdc_tui.core.architecture import COMPUTED_FROM_INPUT, QKV_INPUT, NodeKind, hook_name
from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import ComputationalGraph, EdgeType, GraphSpec, Node
from acdc_tui.io.circuit import Circuit, CircuitEdge, DecidedBy
from acdc_tui.io.fields import FieldError, check_optional, describe, need_bool, need_dict, need_int, need_list, need_number
from acdc_tui.io.fields import field as required
from acdc_tui.io.file_graph import check_size, graph_for, spec_from_config

EAP_KEYS = ("cfg", "nodes", "edges")
FIX = "write it with EAP-IG's Graph.to_json"
QKV = "qkv"


@dataclass(frozen=True)
class EapEdge:
    """One edge of EAP-IG's graph: `sender` is input, a{L}.h{H} or m{L}; `receiver` a{L}.h{H}, m{L} or logits."""

    sender: str
    receiver: str
    qkv: str | None = None  # q, k or v on edges into a head

    @property
    def name(self) -> str:
        return f"{self.sender}->{self.receiver}" + (f"<{self.qkv}>" if self.qkv else "")


def eap_nodes(n_layers: int, n_heads: int) -> list[str]:
    """EAP-IG's node names in its order: input, then each layer's heads and MLP, then logits."""
    names = ["input"]
    for layer in range(n_layers):
        names += [f"a{layer}.h{head}" for head in range(n_heads)] + [f"m{layer}"]
    return names + ["logits"]


def eap_edges(n_layers: int, n_heads: int) -> Iterator[EapEdge]:
    """EAP-IG's edges in `Graph.from_model` order (sequential attention then MLP, as our models are)."""
    residual = ["input"]  # every writer so far
    for layer in range(n_layers):
        heads = [f"a{layer}.h{head}" for head in range(n_heads)]
        for sender in residual:
            for head in heads:
                for letter in QKV:
                    yield EapEdge(sender, head, letter)
        residual += heads
        for sender in residual:
            yield EapEdge(sender, f"m{layer}")
        residual.append(f"m{layer}")
    for sender in residual:
        yield EapEdge(sender, "logits")


def eap_edge_count(n_layers: int, n_heads: int) -> int:
    qkv = sum(3 * n_heads * (1 + layer * (n_heads + 1)) for layer in range(n_layers))
    mlp = sum(1 + layer * (n_heads + 1) + n_heads for layer in range(n_layers))
    return qkv + mlp + 1 + n_layers * (n_heads + 1)


# ---- our nodes for EAP's names ----


def _layer_head(name: str) -> tuple[int, int | None]:
    """`a3.h1` -> (3, 1); `m2` -> (2, None)."""
    if name.startswith("a"):
        layer, head = name[1:].split(".h")
        return int(layer), int(head)
    return int(name[1:]), None


def our_senders(sender: str, spec: GraphSpec) -> list[Node]:
    """Our writer nodes behind an EAP sender (two for `input` when the graph has separate embed/pos nodes)."""
    if sender == "input":
        return [Node(hook_name(kind)) for kind in spec.input_kinds()]
    layer, head = _layer_head(sender)
    return [Node(hook_name(NodeKind.RESULT, layer), head)] if head is not None else [Node(hook_name(NodeKind.MLP_OUT, layer))]


def our_receiver(edge: EapEdge, spec: GraphSpec) -> Node:
    """The node of ours that reads the residual stream for an EAP edge's receiver."""
    if edge.receiver == "logits":
        return Node(hook_name(NodeKind.OUTPUT, n_layers=spec.n_layers))
    layer, head = _layer_head(edge.receiver)
    return Node(hook_name(QKV_INPUT[edge.qkv], layer), head) if head is not None else Node(hook_name(NodeKind.MLP_IN, layer))


def structural_links(receiver: Node) -> list[tuple[Node, Node]]:
    """Our edges from a residual reader to the EAP node's output: q_input -> q -> result, or mlp_in -> mlp_out."""
    kind, layer, head = receiver.kind, receiver.layer, receiver.head
    if kind in COMPUTED_FROM_INPUT:
        qkv = Node(hook_name(COMPUTED_FROM_INPUT[kind], layer), head)
        return [(receiver, qkv), (qkv, Node(hook_name(NodeKind.RESULT, layer), head))]
    if kind is NodeKind.MLP_IN:
        return [(receiver, Node(hook_name(NodeKind.MLP_OUT, layer)))]
    return []


def _touches_mlp(edge: EapEdge) -> bool:
    return edge.sender.startswith("m") or edge.receiver.startswith("m")


# ---- writing ----


def to_eap_json(c: Circuit, source: str = "the circuit") -> dict:
    """The circuit in EAP-IG's `Graph.to_json` layout (an attention-only model's MLPs are listed, never in the graph)."""
    spec = c.spec
    d_model = c.model["config"].get("d_model")
    if isinstance(d_model, bool) or not isinstance(d_model, int) or d_model < 1:
        raise UserError(f"cannot write {source} as EAP-IG JSON: its model config has no d_model (found {describe(d_model)}), which EAP-IG's Graph.from_json needs; write it as --format json")
    by_key = {(e.sender, e.receiver): e for e in c.edges}
    cfg: dict[str, Any] = {"n_layers": spec.n_layers, "n_heads": spec.n_heads, "parallel_attn_mlp": False, "d_model": d_model}
    cfg.update({k: True for k in ("attn_only", "use_pos_embed") if getattr(spec, k)})  # our extras; EAP-IG ignores them
    edges, used = {}, {"logits"}
    for edge in eap_edges(spec.n_layers, spec.n_heads):
        in_graph, score = (False, 0.0) if spec.attn_only and _touches_mlp(edge) else _fold(edge, spec, by_key)
        edges[edge.name] = {"score": score, "in_graph": in_graph}
        if in_graph:
            used.add(edge.sender)
    nodes = {name: {"in_graph": name in used} for name in eap_nodes(spec.n_layers, spec.n_heads)}
    return {"cfg": cfg, "nodes": nodes, "edges": edges}


def _fold(edge: EapEdge, spec: GraphSpec, by_key: dict) -> tuple[bool, float]:
    """(in_graph, score) of an EAP edge from our edges: any sender's edge present and every structural link present."""
    receiver = our_receiver(edge, spec)
    ours = [by_key[(s, receiver)] for s in our_senders(edge.sender, spec)]
    in_graph = any(e.present for e in ours) and all(by_key[link].present for link in structural_links(receiver))
    return in_graph, float(sum(e.delta for e in ours if e.delta is not None))


def eap_json_bytes(c: Circuit, source: str = "the circuit") -> bytes:
    return orjson.dumps(to_eap_json(c, source))


# ---- reading ----

_NUMBER = r"(?:0|[1-9][0-9]{0,8})"  # as EAP-IG writes them: ASCII digits, no leading zeros (and never too long for int())
_NODE = rf"input|a{_NUMBER}\.h{_NUMBER}|m{_NUMBER}"
_EDGE_NAME = re.compile(rf"({_NODE})->(logits|m{_NUMBER}|a{_NUMBER}\.h{_NUMBER})(?:<([qkv])>)?")


def is_eap_json(doc: Any) -> bool:
    return isinstance(doc, dict) and "schema" not in doc and all(k in doc for k in EAP_KEYS)


def circuit_from_eap_json(doc: Any, source: str) -> Circuit:
    """Our circuit from an EAP-IG graph JSON; edges the file does not list are out of the graph, as in EAP-IG."""
    try:
        return _read(need_dict(doc, "the document"), source)
    except FieldError as e:
        raise UserError(f"{source} is not a valid EAP-IG graph file: {e}; {FIX}") from None


def _read(doc: dict, source: str) -> Circuit:
    cfg = need_dict(required(doc, "cfg", ""), "cfg")
    check_optional(cfg, "cfg", {"parallel_attn_mlp": need_bool, "use_pos_embed": need_bool, "d_model": lambda v, w: need_int(v, w, minimum=1, optional=True)})
    if cfg.get("parallel_attn_mlp"):
        raise UserError(f"{source} is for a model with parallel attention and MLP (parallel_attn_mlp), which the ACDC graph does not model; use a GPT-2-style model")
    spec = spec_from_config(cfg, bool(cfg.get("use_pos_embed", False)), "cfg")
    check_size(spec, source)
    listed = need_dict(required(doc, "edges", ""), "edges")
    if len(listed) > eap_edge_count(spec.n_layers, spec.n_heads):
        raise UserError(f"{source} lists {len(listed)} edges, more than a model of its cfg ({_shape(spec)}) has; {FIX}")
    _check_nodes(need_dict(required(doc, "nodes", ""), "nodes"), spec, source)
    graph = graph_for(spec)
    in_graph, scores = _edge_states(listed, spec, graph, source)
    edges = _our_edges(graph, in_graph, scores)
    tested = [e for e in edges if e.type is not EdgeType.PLACEHOLDER]
    return Circuit(
        task={"name": Path(source).stem, "source": f"EAP-IG graph JSON {source}", "metric": None, "description": "imported from an EAP-IG / MIB graph file: Δ holds the file's edge score"},
        model={"config": {"n_layers": spec.n_layers, "n_heads": spec.n_heads, "attn_only": spec.attn_only, "d_model": cfg.get("d_model")}, "fingerprint": None},
        settings={"threshold": None, "use_pos_embed": spec.use_pos_embed},
        metrics={},
        summary={"edges_total": len(tested), "edges_kept": sum(e.present for e in tested), "edges_decided": len(tested)},
        edges=edges,
    )


def _check_nodes(nodes: dict, spec: GraphSpec, source: str) -> None:
    """Node entries name nodes of this model; neuron masks, which our edge-level graph cannot hold, keep every neuron."""
    known = set(eap_nodes(spec.n_layers, spec.n_heads))
    for name, info in nodes.items():
        if name not in known:
            raise UserError(f"{source} names the node {name!r}, which a model of its cfg ({_shape(spec)}) lacks; {FIX}")
        info = need_dict(info, f"nodes[{name!r}]")
        check_optional(info, f"nodes[{name!r}]", {"in_graph": need_bool, "score": lambda v, w: need_number(v, w)})
        if "neurons" in info and not all(need_bool(x, f"nodes[{name!r}].neurons[{i}]") for i, x in enumerate(need_list(info["neurons"], f"nodes[{name!r}].neurons"))):
            raise UserError(f"{source} is a neuron-level circuit (node {name!r} keeps only some neurons), and acdc-tui reads edge-level circuits only; save the circuit without neuron masks")


def _edge_states(listed: dict, spec: GraphSpec, graph: ComputationalGraph, source: str) -> tuple[dict, dict]:
    """Our (sender, receiver) -> present for the file's in-graph edges, and -> score for every listed edge."""
    in_graph: dict[tuple[Node, Node], bool] = {}
    scores: dict[tuple[Node, Node], float] = {}
    for name, info in listed.items():
        info = need_dict(info, f"edges[{name!r}]")
        on = need_bool(required(info, "in_graph", f"edges[{name!r}]"), f"edges[{name!r}].in_graph")
        score = need_number(required(info, "score", f"edges[{name!r}]"), f"edges[{name!r}].score", optional=False)
        edge = _parse_edge_name(name, source)
        if spec.attn_only and _touches_mlp(edge) and not on:
            continue  # our writer lists an attention-only model's MLP edges, out of the graph
        receiver = our_receiver(edge, spec)
        senders = our_senders(edge.sender, spec)
        if not all(graph.has_edge(s, receiver) for s in senders):
            raise UserError(f"{source} has the edge {name!r}, which a model of its cfg ({_shape(spec)}) does not have; {FIX}")
        scores[(senders[0], receiver)] = score  # the token-embedding edge carries a folded input's score
        for s in senders:
            in_graph[(s, receiver)] = on
    return in_graph, scores


def _parse_edge_name(name: str, source: str) -> EapEdge:
    match = _EDGE_NAME.fullmatch(name) if isinstance(name, str) else None
    head_receiver = match is not None and match.group(2).startswith("a")
    if match is None or head_receiver != (match.group(3) is not None):
        raise UserError(f"{source} has an edge named {describe(name)}, not SENDER->RECEIVER with <q>, <k> or <v> exactly on edges into heads; {FIX}")
    return EapEdge(match.group(1), match.group(2), match.group(3))


def _our_edges(graph: ComputationalGraph, in_graph: dict, scores: dict) -> list[CircuitEdge]:
    """Every edge of our graph, the structural ones derived from the residual edges (module docstring)."""
    present = {key for key, on in in_graph.items() if on}
    used = {n for key in present for n in key}  # readers and writers of the residual stream in use
    present |= {e.key for e in graph.edges if e.type is EdgeType.PLACEHOLDER and _unit_in_use(e.sender, used)}
    present |= {e.key for e in graph.edges if e.type is EdgeType.DIRECT_COMPUTATION and e.sender in used and (e.receiver, _result_of(e.receiver)) in present}
    out = []
    for e in graph.edges:
        decided = None if e.type is EdgeType.PLACEHOLDER else DecidedBy.IMPORTED.value
        out.append(CircuitEdge(e.sender, e.receiver, e.type, e.key in present, scores.get(e.key), decided_by=decided))
    return out


def _unit_in_use(node: Node, used: set[Node]) -> bool:
    """Whether the EAP node (head or MLP) that `node` belongs to has an in-graph edge entering or leaving it."""
    layer, head = node.layer, node.head
    if node.kind is NodeKind.MLP_IN:
        return node in used or Node(hook_name(NodeKind.MLP_OUT, layer)) in used
    inputs = [Node(hook_name(QKV_INPUT[x], layer), head) for x in QKV]
    return _result_of(node) in used or any(n in used for n in inputs)


def _result_of(qkv: Node) -> Node:
    return Node(hook_name(NodeKind.RESULT, qkv.layer), qkv.head)


def _shape(spec: GraphSpec) -> str:
    layers, heads = (f"{n} {word}{'' if n == 1 else 's'}" for n, word in ((spec.n_layers, "layer"), (spec.n_heads, "head")))
    return f"{layers}, {heads}" + (", attention only" if spec.attn_only else "")
