"""Circuit files: versioned JSON (orjson) and Graphviz DOT text.

Schema `acdc-tui.circuit` version 1 (documented in README.md, "Circuit JSON"):

    {
      "schema": "acdc-tui.circuit", "schema_version": 1, "acdc_tui_version": str, "created": ISO-8601,
      "complete": bool,                       # false when the run was stopped early
      "task":  {"name", "source", "metric", "description"},
      "model": {"config": {...}, "fingerprint": "sha256:..."},
      "settings": {"threshold", "zero_ablation", "abs_value_threshold", "tree_shaking", "engine",
                   "device", "dtype", "use_pos_embed", "pins": [edge], "force_prunes": [edge]},
      "metrics": {"initial", "final", "full", "circuit", "empty"},   # see acdc_tui/evaluation.py
      "summary": {"edges_total", "edges_kept", "edges_decided", "elapsed_s"},
      "edges": [{"sender": {"hook", "head"}, "receiver": {"hook", "head"},
                 "type": "addition"|"direct_computation"|"placeholder",
                 "present": bool, "delta": float|null, "pinned": bool, "forced": bool,
                 "step": int|null, "decided_by": "test"|"forced"|"skipped"|"tree_shaking"|null}]
    }

`head` is null for whole-hook nodes. Edges come in ACDC visiting order. `step` is the event
number that decided the edge; `delta` is new - old metric when it was tested.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import EdgeKey, EdgeType, Node
from acdc_tui.io.atomic import write_atomic

SCHEMA = "acdc-tui.circuit"
SCHEMA_VERSION = 1


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


def _node_json(n: Node) -> dict:
    return {"hook": n.name, "head": n.head}


def circuit_to_json(c: Circuit) -> dict:
    edges = []
    for e in c.edges:
        d = asdict(e)
        d["sender"], d["receiver"], d["type"] = _node_json(e.sender), _node_json(e.receiver), e.type.value
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


def write_circuit(c: Circuit, path: str | Path) -> Path:
    """Write atomically (temp file + rename) so an interrupted write never leaves half a file."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise UserError(f"cannot write {path}: directory {str(path.parent)!r} does not exist")
    return write_atomic(path, orjson.dumps(circuit_to_json(c), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))


def _node(d: Any, where: str) -> Node:
    if not isinstance(d, dict) or not isinstance(d.get("hook"), str) or not (d.get("head") is None or isinstance(d.get("head"), int)):
        raise ValueError(f"{where} must be {{'hook': str, 'head': int or null}}")
    return Node(d["hook"], d["head"])


def circuit_from_json(data: Any, source: str = "<json>") -> Circuit:
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise UserError(f"{source} is not an acdc-tui circuit file (no \"schema\": \"{SCHEMA}\"): export one with acdc-tui run --out")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise UserError(f"{source} has circuit schema version {version!r}, this acdc-tui reads version {SCHEMA_VERSION}: upgrade acdc-tui or re-export")
    try:
        edges = [
            CircuitEdge(
                sender=_node(e["sender"], f"edge {i} sender"),
                receiver=_node(e["receiver"], f"edge {i} receiver"),
                type=EdgeType(e["type"]),
                present=bool(e["present"]),
                delta=e.get("delta"),
                pinned=bool(e.get("pinned", False)),
                forced=bool(e.get("forced", False)),
                step=e.get("step"),
                decided_by=e.get("decided_by"),
            )
            for i, e in enumerate(data["edges"])
        ]
        return Circuit(
            task=data["task"],
            model=data["model"],
            settings=data["settings"],
            metrics=data["metrics"],
            summary=data["summary"],
            edges=edges,
            complete=bool(data.get("complete", True)),
            created=data.get("created", ""),
            acdc_tui_version=data.get("acdc_tui_version", ""),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"{source} is a malformed circuit file ({type(e).__name__}: {e}): re-export it with acdc-tui run --out") from None


def read_circuit(path: str | Path) -> Circuit:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise UserError(f"cannot read circuit file {str(path)!r}: {e.strerror}") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON ({e}): pass a circuit file written by acdc-tui run --out") from None
    return circuit_from_json(data, str(path))
