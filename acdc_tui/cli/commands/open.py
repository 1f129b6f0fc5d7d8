"""`acdc-tui open FILE`: browse a circuit file (acdc-tui JSON, EAP-IG JSON, reference .pth) or a journal
(JOURNAL@STEP: as it stood then) in the explorer; no model needed."""

from __future__ import annotations

import argparse
from pathlib import Path

from acdc_tui.cli import options
from acdc_tui.cli.job import interactive, scores_path
from acdc_tui.core.errors import UserError


def register(subparsers) -> argparse.ArgumentParser:
    browse = subparsers.add_parser("open", help="browse a circuit file (acdc-tui JSON, EAP-IG JSON, reference .pth) or a journal (JOURNAL@STEP: as it stood then) in the explorer; no model needed")
    browse.add_argument("circuit")
    options.ASCII.add(browse, help="draw with ASCII only")
    options.SCORES.add(browse)
    return browse


def run(args: argparse.Namespace) -> int:
    from acdc_tui.runs.journal.view import is_journal
    from acdc_tui.runs.sources import load_any as load_circuit_any

    if is_journal(args.circuit) and interactive():  # a whole journal: the live explorer (acdc-tui attach)
        from acdc_tui.cli.commands import attach

        args.journal, args.out = args.circuit, None
        return attach.run(args)
    loaded = load_circuit_any(args.circuit)  # validated exactly as `dot` and `diff` validate
    if not interactive():
        raise UserError("acdc-tui open needs a terminal: use acdc-tui dot FILE for text output")
    from acdc_tui.ui.app import ExplorerApp

    ExplorerApp(circuit=loaded.circuit, circuit_graph=loaded.graph, description=str(args.circuit), out=Path(args.circuit).with_name(Path(args.circuit).stem + "-copy.json"), ascii_only=True if args.ascii else None, scores=scores_path(args.scores)).run()
    return 0
