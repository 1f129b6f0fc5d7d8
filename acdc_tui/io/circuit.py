"""Circuit files: versioned JSON (orjson), validated on reading.

Schema `acdc-tui.circuit` version 1 (documented in docs/algorithm.md, "Circuit JSON"):

    {
      "schema": "acdc-tui.circuit", "schema_version": 1, "acdc_tui_version": str, "created": ISO-8601,
      "complete": bool,                       # false when the run was stopped early
      "task":  {"name", "source", "metric", "description"},
      "model": {"config": {...}, "fingerprint": "sha256:..."},
      "settings": {"threshold", "zero_ablation", "abs_value_threshold", "tree_shaking", "engine",
                   "device", "dtype", "use_pos_embed", "pins": [edge], "force_prunes": [edge]},
      "metrics": {"initial", "final", "full", "circuit", "empty"},   # see acdc_tui/runs/evaluation.py
      "summary": {"edges_total", "edges_kept", "edges_decided", "elapsed_s"},
      "edges": [{"sender": {"hook", "head"}, "receiver": {"hook", "head"},
                 "type": "addition"|"direct_computation"|"placeholder",
                 "present": bool, "delta": float|null, "pinned": bool, "forced": bool,
                 "step": int|null, "decided_by": "test"|"forced"|"skipped"|"tree_shaking"|"imported"|null}]
    }

`head` is null for whole-hook nodes. Edges come in ACDC visiting order. `step` is the event
number that decided the edge; `delta` is new - old metric when it was tested.

Reading checks every field's type, and that the edges are exactly the edges of the graph that
the model config describes (a graph whose size is bounded before it is built: io/file_graph.py),
so whatever opens a file (the explorer, dot, diff) can trust it.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import orjson

from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import ComputationalGraph, EdgeKey, EdgeType, GraphSpec, Node
from acdc_tui.io.atomic import write_atomic
from acdc_tui.io.fields import FieldError, check_optional, describe, need_bool, need_dict, need_int, need_list, need_number, need_str
from acdc_tui.io.fields import field as required
from acdc_tui.io.file_graph import check_size, graph_for, spec_from_config

SCHEMA = "acdc-tui.circuit"
SCHEMA_VERSION = 1
FIX = "re-export it with acdc-tui run --out"


class DecidedBy(str, Enum):
    """How an edge's state was reached (None in a file: not decided yet, or a placeholder)."""

    TEST = "test"
    FORCED = "forced"
    SKIPPED = "skipped"  # its receiver fed nothing any more
    PREFILTER = "prefilter"  # removed untested by an attribution prefilter (a non-reference run)
    TREE_SHAKING = "tree_shaking"
    IMPORTED = "imported"  # read from another tool's file, which does not say how


@dataclass(frozen=True)
class CircuitEdge:
    sender: Node
    receiver: Node
    type: EdgeType
    present: bool
    delta: float | None = None
    pinned: bool = False
    forced: bool = False
    step: int | None = None
    decided_by: str | None = None
    dangling: bool = False  # kept, but its receiver no longer reaches the output (written only when true)

    @property
    def key(self) -> EdgeKey:
        return (self.sender.name, self.sender.head, self.receiver.name, self.receiver.head)


@dataclass
class Circuit:
    task: dict[str, Any]
    model: dict[str, Any]
    settings: dict[str, Any]
    metrics: dict[str, Any]
    summary: dict[str, Any]
    edges: list[CircuitEdge]
    complete: bool = True
    created: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    acdc_tui_version: str = ""

    def present_keys(self, include_placeholders: bool = True) -> set[EdgeKey]:
        return {e.key for e in self.edges if e.present and (include_placeholders or e.type is not EdgeType.PLACEHOLDER)}

    @property
    def spec(self) -> GraphSpec:
        """The graph shape (the model config was checked when the circuit was read or built)."""
        cfg = self.model["config"]
        return GraphSpec(int(cfg["n_layers"]), int(cfg["n_heads"]), bool(cfg.get("attn_only", False)), bool(self.settings.get("use_pos_embed", False)))

    def graph(self) -> ComputationalGraph:
        """The graph of the circuit's model, built once per shape."""
        return graph_for(self.spec)


def _node_json(n: Node) -> dict:
    return {"hook": n.name, "head": n.head}


def circuit_to_json(c: Circuit) -> dict:
    edges = []
    for e in c.edges:
        d = asdict(e)
        d["sender"], d["receiver"], d["type"] = _node_json(e.sender), _node_json(e.receiver), e.type.value
        if not e.dangling:
            del d["dangling"]
        edges.append(d)
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "acdc_tui_version": c.acdc_tui_version,
        "created": c.created,
        "complete": c.complete,
        "task": c.task,
        "model": c.model,
        "settings": c.settings,
        "metrics": c.metrics,
        "summary": c.summary,
        "edges": edges,
    }


def circuit_json_bytes(c: Circuit) -> bytes:
    return orjson.dumps(circuit_to_json(c), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)


def write_circuit(c: Circuit, path: str | Path) -> Path:
    """Write atomically (a unique temporary file, then a rename): an interrupted write never leaves half a file."""
    return write_atomic(path, circuit_json_bytes(c))


# ---- reading ----

_STR_FIELDS = {k: need_str for k in ("name", "source", "metric", "description")}
_SETTINGS_FIELDS = {
    "threshold": need_number,
    "use_pos_embed": need_bool,
    **{k: need_bool for k in ("zero_ablation", "abs_value_threshold", "tree_shaking", "mean_ablation", "reference")},
    "prefilter": lambda v, w: need_str(v, w, optional=True),
    **{k: need_str for k in ("engine", "device", "dtype")},
    **{k: lambda v, w: [need_str(x, f"{w}[{i}]", optional=False) for i, x in enumerate(need_list(v, w))] for k in ("pins", "force_prunes")},
}
_METRIC_FIELDS = {k: need_number for k in ("initial", "final", "full", "circuit", "empty")}
_SUMMARY_FIELDS = {
    **{k: need_int for k in ("edges_total", "edges_kept", "edges_decided")},
    "elapsed_s": lambda v, w: need_number(v, w, optional=False, minimum=0),
}
_EDGE_TYPES = [t.value for t in EdgeType]
_DECIDED_BY = [d.value for d in DecidedBy]


def circuit_from_json(data: Any, source: str = "<json>") -> Circuit:
    """A Circuit from a parsed acdc-tui circuit file, every field checked; a UserError names the first bad one."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise UserError(f"{source} is not an acdc-tui circuit file (it has no \"schema\": \"{SCHEMA}\"); export one with acdc-tui run --out")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise UserError(f"{source} has circuit schema version {describe(version)}, and this acdc-tui reads version {SCHEMA_VERSION}; upgrade acdc-tui or re-export the circuit")
    try:
        return _parse(data, source)
    except FieldError as e:
        raise UserError(f"{source} is not a valid circuit file: {e}; {FIX}") from None


def _parse(data: dict, source: str) -> Circuit:
    parts = {}
    for key, fields in (("task", _STR_FIELDS), ("model", {"fingerprint": need_str}), ("settings", _SETTINGS_FIELDS), ("metrics", _METRIC_FIELDS), ("summary", _SUMMARY_FIELDS)):
        parts[key] = need_dict(required(data, key, ""), key)
        check_optional(parts[key], key, fields)
    check_optional(data, "", {"complete": need_bool, "created": need_str, "acdc_tui_version": need_str})
    spec = spec_from_config(required(parts["model"], "config", "model"), bool(parts["settings"].get("use_pos_embed", False)), "model.config")
    raw_edges = need_list(required(data, "edges", ""), "edges", non_empty=True)
    expected = check_size(spec, source)
    if len(raw_edges) != expected:
        raise UserError(f"{source} lists {len(raw_edges)} edges, but the graph of its model config has {expected}: the file's model config and edges disagree; {FIX}")
    edges = [_edge(e, f"edges[{i}]") for i, e in enumerate(raw_edges)]
    check_edges_fit(edges, graph_for(spec), source)
    return Circuit(
        **parts,
        edges=edges,
        complete=data.get("complete", True),
        created=data.get("created") or "",
        acdc_tui_version=data.get("acdc_tui_version") or "",
    )


def _node(d: Any, where: str) -> Node:
    d = need_dict(d, where)
    hook = need_str(required(d, "hook", where), f"{where}.hook", optional=False)
    head = need_int(required(d, "head", where), f"{where}.head", optional=True)
    return Node(hook, head)


def _edge(d: Any, where: str) -> CircuitEdge:
    d = need_dict(d, where)
    edge = CircuitEdge(
        sender=_node(required(d, "sender", where), f"{where}.sender"),
        receiver=_node(required(d, "receiver", where), f"{where}.receiver"),
        type=EdgeType(need_str(required(d, "type", where), f"{where}.type", optional=False, choices=_EDGE_TYPES)),
        present=need_bool(required(d, "present", where), f"{where}.present"),
        delta=need_number(d.get("delta"), f"{where}.delta"),
        pinned=need_bool(d.get("pinned", False), f"{where}.pinned"),
        forced=need_bool(d.get("forced", False), f"{where}.forced"),
        step=need_int(d.get("step"), f"{where}.step", optional=True),
        decided_by=need_str(d.get("decided_by"), f"{where}.decided_by", choices=_DECIDED_BY),
        dangling=need_bool(d.get("dangling", False), f"{where}.dangling"),
    )
    if edge.pinned and edge.forced:
        raise FieldError(f"{where}.forced", "false when the edge is pinned", True)
    return edge


def check_edges_fit(edges: list[CircuitEdge], graph: ComputationalGraph, source: str) -> None:
    """Each edge is an edge of `graph`, of the graph's type for it, listed once (with the counts equal: all of them)."""
    seen: set[EdgeKey] = set()
    for e in edges:
        if not graph.has_edge(e.sender, e.receiver):
            raise UserError(f"{source} has the edge {e.sender} -> {e.receiver}, which the graph of its model config lacks: the file's model config and edges disagree; {FIX}")
        want = graph.edge(e.sender, e.receiver).type
        if e.type is not want:
            raise UserError(f"{source} gives the edge {e.sender} -> {e.receiver} the type {e.type.value!r}, but in its model's graph it is {want.value!r}; {FIX}")
        if e.key in seen:
            raise UserError(f"{source} lists the edge {e.sender} -> {e.receiver} twice; {FIX}")
        seen.add(e.key)


def parse_json_bytes(raw: bytes, source: str, fix: str) -> Any:
    """orjson.loads, with a parse error as one UserError line."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise UserError(f"{source} is not valid JSON ({e}); {fix}") from None


def read_file_bytes(path: str | Path, what: str = "circuit file") -> bytes:
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path} is a directory, not a {what}; give the path of the file")
    try:
        return path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read {what} {str(path)!r}: {(e.strerror or type(e).__name__).lower()}") from None


def read_circuit(path: str | Path) -> Circuit:
    """An acdc-tui circuit JSON file, validated (any supported format: io.loader.load_circuit_any)."""
    raw = read_file_bytes(path)
    return circuit_from_json(parse_json_bytes(raw, str(path), "pass a circuit file written by acdc-tui run --out"), str(path))
