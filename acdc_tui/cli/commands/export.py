"""`acdc-tui export JOURNAL`: the circuit a journal holds, at its end or as it stood after event N (no model)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from acdc_tui.cli import options


def register(subparsers) -> argparse.ArgumentParser:
    export = subparsers.add_parser("export", help="write the circuit a journal holds, at its end or as it stood after event N")
    export.add_argument("journal")
    options.OUT.add(export, required=True, help="circuit JSON to write")
    options.DOT.add(export, help="also write Graphviz DOT")
    export.add_argument("--step", type=int, default=None, metavar="N", help="the state right after event N (default: the last event)")
    export.add_argument("--run", type=int, default=1, metavar="K", help="in a sweep's journal, the K-th threshold's run (default 1)")
    options.FORMAT.add(export, help="the format of --out: acdc-tui JSON (default), EAP-IG / MIB graph JSON, or DOT")
    return export


def run(args: argparse.Namespace) -> int:
    from acdc_tui.runs.journal.view import circuit_from_journal
    from acdc_tui.runs.outputs import Outputs, check_distinct, write_outputs

    journal = Path(args.journal)
    out, dot = Path(args.out), None if args.dot is None else Path(args.dot)
    check_distinct([("--out", out), ("--dot", dot)], [("the journal", journal)])
    circuit = circuit_from_journal(journal, args.step, args.run)
    write_outputs(circuit, Outputs(out, dot, args.format), None)
    step = circuit.summary.get("step")
    where = f"after event {step}" if step is not None else ("finished" if circuit.complete else "partial")
    also = f" and {dot}" if dot else ""
    print(f"acdc-tui: exported {circuit.summary['edges_kept']}/{circuit.summary['edges_total']} kept edges ({where}) to {out}{also}", file=sys.stderr)
    return 0
