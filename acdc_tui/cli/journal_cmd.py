"""Commands that read journals without loading a model: `export`, `ps`, `log`."""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path

from acdc_tui.core.errors import UserError


def add_parsers(sub) -> None:
    export = sub.add_parser("export", help="write the circuit a journal holds, at its end or as it stood after event N")
    export.add_argument("journal")
    export.add_argument("--out", "-o", required=True, help="circuit JSON to write")
    export.add_argument("--dot", default=None, help="also write Graphviz DOT")
    export.add_argument("--step", type=int, default=None, metavar="N", help="the state right after event N (default: the last event)")
    export.add_argument("--run", type=int, default=1, metavar="K", help="in a sweep's journal, the K-th threshold's run (default 1)")
    export.add_argument("--format", default="json", choices=("json", "eap", "dot"), help="the format of --out: acdc-tui JSON (default), EAP-IG / MIB graph JSON, or DOT")
    ps = sub.add_parser("ps", help="list the runs in acdc-output/runs/ (or the given journals): state, progress, journal")
    ps.add_argument("journals", nargs="*", help="journals or folders (default acdc-output/runs/)")
    log = sub.add_parser("log", help="print a journal's decisions as the reference-format log")
    log.add_argument("journal")


def cmd_export(args: argparse.Namespace) -> int:
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


def cmd_ps(args: argparse.Namespace) -> int:
    from acdc_tui.runs.journal.schema import SUFFIX
    from acdc_tui.runs.journal.view import summarize
    from acdc_tui.runs.paths import journals, runs_dir

    paths: list[Path] = []
    for given in args.journals or [str(runs_dir())]:
        p = Path(given)
        paths += journals(p) if p.is_dir() else [p]
    if not paths:
        print(f"no runs in {args.journals[0] if args.journals else runs_dir()} (journals are *{SUFFIX} files)")
        return 0
    rows = []
    for path in paths:
        try:
            s = summarize(path)
        except UserError as e:
            rows.append(("unreadable", "", "", "", "", "", "", f"{path}  ({e})"))
            continue
        progress = f"{s.done}/{s.total}" if s.total else ""
        pid = f" pid {s.pid}" if s.pid else ""
        rows.append((s.state.value + pid, s.task, _g(s.threshold), progress, "" if s.kept is None else str(s.kept), _g(s.metric), _started(s.started), str(s.path)))
    header = ("STATE", "TASK", "TAU", "DECIDED", "KEPT", "METRIC", "STARTED", "JOURNAL")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    return 0


def cmd_log(args: argparse.Namespace) -> int:
    from acdc_tui.io.reference_log import format_event
    from acdc_tui.runs.journal.reader import JournalReader
    from acdc_tui.runs.journal.view import decode, graph_of

    reader = JournalReader(args.journal, readonly=True)
    try:
        graph = graph_of(reader.meta)
        for run_id, _ in reader.runs():
            for event in decode([r for r in reader.events(run=run_id) if not r.superseded], graph):
                lines = format_event(event)
                if lines:
                    sys.stdout.write("".join(line + "\n" for line in lines))
    finally:
        reader.close()
    return 0


def _g(x) -> str:
    return "" if x is None else f"{x:.4g}"


def _started(iso: str) -> str:
    try:
        return _dt.datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso
