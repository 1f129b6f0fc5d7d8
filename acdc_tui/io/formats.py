"""The circuit file formats acdc-tui writes (an enum alone, so the command line can list them without heavy imports)."""

from __future__ import annotations

from enum import Enum


class OutputFormat(str, Enum):
    JSON = "json"  # acdc-tui circuit JSON: everything the run knows
    EAP = "eap"  # EAP-IG / MIB graph JSON
    DOT = "dot"  # Graphviz DOT of the present edges
