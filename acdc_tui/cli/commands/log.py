"""`acdc-tui log JOURNAL`: a journal's decisions as the reference-format log (no model)."""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> argparse.ArgumentParser:
    log = subparsers.add_parser("log", help="print a journal's decisions as the reference-format log")
    log.add_argument("journal")
    return log


def run(args: argparse.Namespace) -> int:
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
