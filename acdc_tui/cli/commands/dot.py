"""`acdc-tui dot FILE`: Graphviz DOT of any supported circuit file (no pygraphviz, no model)."""

from __future__ import annotations

import argparse
import sys

from acdc_tui.cli import options


def register(subparsers) -> argparse.ArgumentParser:
    dot = subparsers.add_parser("dot", help="convert a circuit JSON file to Graphviz DOT")
    dot.add_argument("circuit")
    options.OUT.add(dot, help="write here instead of stdout")
    dot.add_argument("--include-removed", action="store_true")
    return dot


def run(args: argparse.Namespace) -> int:
    from acdc_tui.io.atomic import write_atomic
    from acdc_tui.io.dot import to_dot
    from acdc_tui.runs.outputs import check_distinct
    from acdc_tui.runs.sources import load_any as load_circuit_any

    if args.out is not None:
        check_distinct([("--out", args.out)], [("the circuit file", args.circuit)])
    text = to_dot(load_circuit_any(args.circuit).circuit, include_removed=args.include_removed)
    if args.out:
        write_atomic(args.out, text.encode())
    else:
        sys.stdout.write(text)
    return 0
