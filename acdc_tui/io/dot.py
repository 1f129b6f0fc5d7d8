"""Graphviz DOT text of a circuit (no pygraphviz needed)."""

from __future__ import annotations

from acdc_tui.core.graph import EdgeType
from acdc_tui.io.circuit import Circuit

_DOT_COLOURS = {EdgeType.ADDITION: "#1f77b4", EdgeType.DIRECT_COMPUTATION: "#d62728", EdgeType.PLACEHOLDER: "#7f7f7f"}


def to_dot(c: Circuit, include_removed: bool = False) -> str:
    """Graphviz DOT text of the circuit (no pygraphviz needed): nodes by short label, edges coloured by type."""
    edges = [e for e in c.edges if e.present or include_removed]
    nodes = sorted({n for e in edges for n in (e.sender, e.receiver)}, key=lambda n: (n.layer if n.layer is not None else -1, n.name, n.head or 0))
    title = f"{c.task.get('name', '')} threshold={c.settings.get('threshold')}"
    lines = ["digraph circuit {", f"  label={_q(title)};", "  rankdir=BT;", '  node [shape=box, fontname="monospace"];']
    lines += [f"  {_q(str(n))} [label={_q(n.label)}];" for n in nodes]
    for e in edges:
        attrs = [f'color="{_DOT_COLOURS[e.type]}"']
        if e.type is EdgeType.PLACEHOLDER:
            attrs.append("style=dashed")
        if not e.present:
            attrs.append("style=dotted")
        if e.delta is not None:
            attrs.append(f"tooltip={_q(f'delta={e.delta:.6g}')}")
        lines.append(f"  {_q(str(e.sender))} -> {_q(str(e.receiver))} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
