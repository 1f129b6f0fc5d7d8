"""`acdc-tui diff A B`: the tested edges two circuit files keep, side by side, and a summary line.

A and B may be any supported circuit file (acdc-tui JSON, EAP-IG graph JSON, reference .pth) or a
run journal (JOURNAL: its end; JOURNAL@STEP: as it stood right after event STEP).
Exit status as diff(1): 0 when both keep the same edges, 1 when they differ, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:  # imported when the command runs: `acdc-tui --help` stays quick
    from acdc_tui.io.diff import CircuitDiff, DiffRow, EdgeState


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("diff", help="compare the edges two circuits keep (acdc-tui JSON, EAP-IG JSON, reference .pth, or a journal[@STEP])")
    p.add_argument("a", metavar="A", help="first circuit: a circuit file, or JOURNAL[@STEP]")
    p.add_argument("b", metavar="B", help="second circuit: a circuit file, or JOURNAL[@STEP]")
    p.add_argument("--changes-only", action="store_true", help="list only the edges one side keeps and the other does not")
    return p


def run(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    from acdc_tui.io.diff import diff_circuits
    from acdc_tui.runs.sources import load_any as load_circuit_any

    out = out or sys.stdout
    a, b = load_circuit_any(args.a), load_circuit_any(args.b)
    result = diff_circuits(a.circuit, b.circuit, f"A ({args.a})", f"B ({args.b})")
    out.write(f"A: {args.a} ({a.kind.value})\nB: {args.b} ({b.kind.value})\n")
    out.write(format_diff(result, changes_only=args.changes_only))
    out.flush()
    return 0 if result.identical else 1


def format_diff(result: "CircuitDiff", changes_only: bool = False) -> str:
    from acdc_tui.io.diff import DiffSide

    sides = [DiffSide.ONLY_A, DiffSide.ONLY_B] + ([] if changes_only else [DiffSide.BOTH])
    lines: list[str] = []
    width = max((len(_edge_label(r)) for side in sides for r in result.rows(side)), default=0)
    for side in sides:
        rows = result.rows(side)
        lines.append(f"{side.value[0].upper()}{side.value[1:]} ({_count(len(rows))}):")
        lines += [f"  {_edge_label(r):<{width}}  A: {_state(r.a)}  B: {_state(r.b)}".rstrip() for r in rows]
    lines.append(f"Summary: {result.summary()}")
    return "\n".join(lines) + "\n"


def _edge_label(row: "DiffRow") -> str:
    return f"{row.edge.sender.label} -> {row.edge.receiver.label}"


def _state(s: "EdgeState") -> str:
    delta = "Δ n/a" if s.delta is None else f"Δ {s.delta:+.6g}"
    return f"{s.decision:<22} {delta:<14}"


def _count(n: int) -> str:
    return f"{n} edge" + ("" if n == 1 else "s")
