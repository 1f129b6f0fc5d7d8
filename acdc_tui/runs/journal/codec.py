"""Events to and from JSON-safe dicts, for the journal.

Nodes are `[hook name, head or null]`, edges `[sender, receiver]`; non-finite floats (a metric can
be NaN on a broken model) are stored as the strings "NaN", "Infinity", "-Infinity", which JSON has
no numbers for. Decoding needs the graph, to turn node pairs back into its Edge objects.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from acdc_tui.core import events as event_types
from acdc_tui.core.errors import UserError
from acdc_tui.core.events import Event
from acdc_tui.core.graph import ComputationalGraph, Edge, Node

EVENT_KINDS: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in vars(event_types).values()
    if isinstance(cls, type) and issubclass(cls, Event) and cls is not Event
}
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _encode_float(x: float | None) -> float | str | None:
    if x is None or math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def _decode_float(x: Any) -> float | None:
    if x is None:
        return None
    if isinstance(x, str):
        return _NON_FINITE[x]
    return float(x)


def _encode_node(node: Node) -> list:
    return [node.name, node.head]


def _encode_edge(edge: Edge) -> list:
    return [_encode_node(edge.sender), _encode_node(edge.receiver)]


def encode_value(kind: str, value: Any) -> Any:
    if kind == "Node":
        return _encode_node(value)
    if kind == "Edge":
        return _encode_edge(value)
    if kind == "tuple[Edge, ...]":
        return [_encode_edge(e) for e in value]
    if kind == "tuple[Node, ...]":
        return [_encode_node(n) for n in value]
    if kind in ("float", "float | None"):
        return _encode_float(value)
    return value


_FIELDS: dict[type, tuple[tuple[str, str], ...]] = {}


def _fields(cls: type) -> tuple[tuple[str, str], ...]:
    """(name, type) of an event class's fields, looked up once per class."""
    if cls not in _FIELDS:
        _FIELDS[cls] = tuple((f.name, str(f.type)) for f in dataclasses.fields(cls))
    return _FIELDS[cls]


def encode_event(event: Event) -> tuple[str, dict]:
    """(kind, fields) of an event; `seq` is among the fields."""
    fields = {name: encode_value(kind, getattr(event, name)) for name, kind in _fields(type(event))}
    return type(event).__name__, fields


class EventDecoder:
    """Turns journal rows back into events of one graph."""

    def __init__(self, graph: ComputationalGraph) -> None:
        self.graph = graph

    def node(self, data: Any) -> Node:
        node = Node(data[0], data[1])
        if node not in self.graph.incoming_type:
            raise UserError(f"the journal names hook point {node}, which this model's graph lacks: it was written for another model")
        return node

    def edge(self, data: Any) -> Edge:
        sender, receiver = self.node(data[0]), self.node(data[1])
        if not self.graph.has_edge(sender, receiver):
            raise UserError(f"the journal names edge {sender} -> {receiver}, which this model's graph lacks: it was written for another model")
        return self.graph.edge(sender, receiver)

    def value(self, kind: str, data: Any) -> Any:
        if kind == "Node":
            return self.node(data)
        if kind == "Edge":
            return self.edge(data)
        if kind == "tuple[Edge, ...]":
            return tuple(self.edge(e) for e in data)
        if kind == "tuple[Node, ...]":
            return tuple(self.node(n) for n in data)
        if kind in ("float", "float | None"):
            return _decode_float(data)
        return data

    def event(self, kind: str, fields: dict) -> Event:
        cls = EVENT_KINDS.get(kind)
        if cls is None:
            raise UserError(f"the journal holds an event of unknown kind {kind!r}: it was written by a newer acdc-tui; upgrade to read it")
        values = {name: self.value(kind, fields[name]) for name, kind in _fields(cls)}
        return cls(**values)
