"""Options of `run` (and the explorer, `sweep`) that read or write circuit files: --pins-from, --format."""

from __future__ import annotations

import argparse

from acdc_tui.io.formats import OutputFormat


def add_pins_from_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--pins-from",
        metavar="FILE",
        default=None,
        help="pin every tested edge present in this circuit file (acdc-tui JSON, EAP-IG graph JSON or reference .pth), matched by hook name",
    )


def pins_from(args: argparse.Namespace) -> tuple[str, ...]:
    """SENDER->RECEIVER texts of the tested edges present in --pins-from (empty without it)."""
    path = getattr(args, "pins_from", None)
    if not path:
        return ()
    from acdc_tui.core.graph import EdgeType
    from acdc_tui.runs.sources import load_any as load_circuit_any

    circuit = load_circuit_any(path).circuit
    return tuple(f"{e.sender}->{e.receiver}" for e in circuit.edges if e.present and e.type is not EdgeType.PLACEHOLDER)


def add_format_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--format",
        choices=[f.value for f in OutputFormat],
        default=OutputFormat.JSON.value,
        help="format of the --out circuit file: json (acdc-tui, everything; default), eap (EAP-IG / MIB graph JSON) or dot (Graphviz)",
    )
