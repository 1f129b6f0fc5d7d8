"""`acdc-tui diff A B`: the tested edges two circuit files keep, side by side, and a summary line.

A and B may be any supported circuit file (acdc-tui JSON, EAP-IG graph JSON, reference .pth) or a
run journal (JOURNAL: its end; JOURNAL@STEP: as it stood right after event STEP).
Exit status as diff(1): 0 when both keep the same edges, 1 when they differ, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("diff", help="compare the edges two circuits keep (acdc-tui JSON, EAP-IG JSON, reference .pth, or a journal[@STEP])")
    p.add_argument("a", metavar="A", help="first circuit: a circuit file, or JOURNAL[@STEP]")
    p.add_argument("b", metavar="B", help="second circuit: a circuit file, or JOURNAL[@STEP]")
    p.add_argument("--changes-only", action="store_true", help="list only the edges one side keeps and the other does not")
    return p


def run(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    from acdc_tui.io.diff import diff_circuits, format_diff
    from acdc_tui.runs.sources import load_any as load_circuit_any

    out = out or sys.stdout
    a, b = load_circuit_any(args.a), load_circuit_any(args.b)
    result = diff_circuits(a.circuit, b.circuit, f"A ({args.a})", f"B ({args.b})")
    out.write(f"A: {args.a} ({a.kind.value})\nB: {args.b} ({b.kind.value})\n")
    out.write(format_diff(result, changes_only=args.changes_only))
    out.flush()
    return 0 if result.identical else 1
