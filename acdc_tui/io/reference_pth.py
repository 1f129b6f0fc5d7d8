"""Subgraphs saved by the reference ACDC code (ArthurConmy/Automatic-Circuit-Discovery), read safely.

`TLACDCExperiment.save_subgraph` writes, with torch.save, an OrderedDict

    {(receiver_hook, receiver_index, sender_hook, sender_index): present}

where an index is a TorchIndex's `hashable_tuple`: `(None,)` for a whole hook, `(None, None, h)`
for head h. It is loaded with torch.load(weights_only=True): only plain containers, strings,
numbers and booleans are unpickled, and no pickled code ever runs. The graph's shape (layers,
heads, MLPs, separate embed/pos inputs) is inferred from the hook names; every edge of that
graph must be in the file, as save_subgraph writes them all.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from acdc_tui.core.architecture import NodeKind, hook_name, kind_of
from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import EdgeType, GraphSpec, Node
from acdc_tui.io.circuit import Circuit, CircuitEdge, DecidedBy
from acdc_tui.io.fields import describe
from acdc_tui.io.file_graph import check_size, graph_for

FIX = "save it with the reference's TLACDCExperiment.save_subgraph"
_LAYER = re.compile(r"blocks\.([0-9]{1,9})\.")  # longer numbers are no layer of ours (and too long for int())


def looks_like_torch_save(raw: bytes) -> bool:
    """torch.save output: a zip archive (the default since torch 1.6) or a bare pickle."""
    return raw.startswith(b"PK\x03\x04") or raw[:1] == b"\x80"


def load_edge_dict(raw: bytes, source: str) -> dict:
    """The file's dictionary, unpickled without running code; any failure is one UserError line."""
    from acdc_tui.core.safe_load import torch_load  # weights_only, and a depth limit: a deep pickle cannot crash the process

    try:
        data = torch_load(raw, source)
    except UserError as e:
        if "nests containers" in str(e):
            raise
        # torch's message is many lines of advice about weights_only: name the problem instead.
        raise UserError(
            f"{source} cannot be read safely as a reference ACDC subgraph: it is not a torch.save file of plain dictionaries, tuples, "
            f"strings and booleans, and acdc-tui never runs pickled code; {FIX}"
        ) from None
    if not isinstance(data, dict) or not data:
        raise UserError(f"{source} holds {describe(data)}, not the non-empty edge dictionary of a reference ACDC subgraph; {FIX}")
    return data


def _node(name: Any, index: Any, source: str) -> Node:
    """(hook name, hashable_tuple) -> Node; `(None,)` is the whole hook, `(None, None, h)` head h."""
    if isinstance(name, str) and index == (None,):
        return Node(name, None)
    if isinstance(name, str) and isinstance(index, tuple) and len(index) == 3 and index[:2] == (None, None):
        head = index[2]
        if isinstance(head, int) and not isinstance(head, bool) and head >= 0:
            return Node(name, head)
    raise UserError(f"{source} has the node {describe(name)} with index {describe(index)}, not a hook name with (None,) or (None, None, head); {FIX}")


def _edges(data: dict, source: str) -> dict[tuple[Node, Node], bool]:
    out = {}
    for key, present in data.items():
        if not (isinstance(key, tuple) and len(key) == 4):
            raise UserError(f"{source} has the key {describe(key)}, not (receiver_hook, receiver_index, sender_hook, sender_index); {FIX}")
        if not isinstance(present, bool):
            raise UserError(f"{source} maps an edge to {describe(present)}, not true or false; {FIX}")
        receiver, sender = _node(key[0], key[1], source), _node(key[2], key[3], source)
        out[(sender, receiver)] = present
    return out


def infer_spec(nodes: set[Node], source: str) -> GraphSpec:
    """The graph shape whose nodes these are: layers from `blocks.L.`, heads from the largest head index."""
    layers = [int(m.group(1)) for n in nodes if (m := _LAYER.match(n.name))]
    heads = [n.head for n in nodes if n.head is not None]
    if not layers or not heads:
        raise UserError(f"{source} names no attention head of a transformer block, so it is not a reference ACDC subgraph; {FIX}")
    names = {n.name for n in nodes}
    attn_only = not any(kind_of(name) is NodeKind.MLP_IN for name in names)
    return GraphSpec(max(layers) + 1, max(heads) + 1, attn_only, hook_name(NodeKind.EMBED) in names)


def circuit_from_reference(raw: bytes, source: str) -> Circuit:
    """Our circuit from a reference `.pth` subgraph: each edge's present flag, nothing else (no Δ, no settings)."""
    present = _edges(load_edge_dict(raw, source), source)
    spec = infer_spec({n for key in present for n in key}, source)
    expected = check_size(spec, source)
    if len(present) != expected:
        raise UserError(f"{source} has {len(present)} edges, but the reference graph of its model ({spec.n_layers} layers, {spec.n_heads} heads) has {expected}; {FIX}")
    graph = graph_for(spec)
    missing = next((e for e in graph.edges if e.key not in present), None)
    if missing is not None:
        raise UserError(f"{source} lacks the edge {missing}, which the reference graph of its model has (or names edges it lacks); {FIX}")
    edges = [
        CircuitEdge(e.sender, e.receiver, e.type, present[e.key], decided_by=None if e.type is EdgeType.PLACEHOLDER else DecidedBy.IMPORTED.value)
        for e in graph.edges
    ]
    tested = [e for e in edges if e.type is not EdgeType.PLACEHOLDER]
    return Circuit(
        task={"name": Path(source).stem, "source": f"reference ACDC subgraph {source}", "metric": None, "description": "imported from the reference ACDC code's save_subgraph"},
        model={"config": {"n_layers": spec.n_layers, "n_heads": spec.n_heads, "attn_only": spec.attn_only}, "fingerprint": None},
        settings={"threshold": None, "use_pos_embed": spec.use_pos_embed},
        metrics={},
        summary={"edges_total": len(tested), "edges_kept": sum(e.present for e in tested), "edges_decided": len(tested)},
        edges=edges,
    )
