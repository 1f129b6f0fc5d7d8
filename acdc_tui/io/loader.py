"""One entry point for every circuit file: `load_circuit_any(path_spec)` dispatches on the file's content.

Each supported kind is a `Reader`: a cheap test on the file's first bytes, and a function from the
whole file to a validated Circuit. The JSON kinds share one parse and are told apart by their keys.
A new kind (e.g. a run journal, `JOURNAL@STEP`) is one more entry in READERS, before JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Callable

from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import ComputationalGraph
from acdc_tui.io.circuit import SCHEMA, Circuit, circuit_from_json, parse_json_bytes, read_file_bytes
from acdc_tui.io.eap import circuit_from_eap_json, is_eap_json
from acdc_tui.io.reference_pth import circuit_from_reference, looks_like_torch_save

FIX = "pass a circuit JSON (acdc-tui run --out), an EAP-IG graph JSON or a reference ACDC .pth subgraph"


class SourceKind(str, Enum):
    ACDC_JSON = "acdc-tui circuit JSON"
    EAP_JSON = "EAP-IG graph JSON"
    REFERENCE_PTH = "reference ACDC subgraph (.pth)"
    JOURNAL = "acdc-tui run journal"  # read by acdc_tui.runs.sources (journals live in the runs layer)


@dataclass(frozen=True)
class LoadedCircuit:
    circuit: Circuit
    kind: SourceKind
    source: str  # the path spec as given

    @property
    def graph(self) -> ComputationalGraph:
        return self.circuit.graph()


@dataclass(frozen=True)
class Reader:
    claims: Callable[[bytes], bool]  # from the file's bytes, without parsing it all
    read: Callable[[bytes, str], tuple[Circuit, SourceKind]]


def _read_json(raw: bytes, source: str) -> tuple[Circuit, SourceKind]:
    doc = parse_json_bytes(raw, source, FIX)
    if is_eap_json(doc):
        return circuit_from_eap_json(doc, source), SourceKind.EAP_JSON
    if isinstance(doc, dict) and "schema" in doc:
        return circuit_from_json(doc, source), SourceKind.ACDC_JSON
    raise UserError(f"{source} is JSON but neither an acdc-tui circuit (a \"schema\": \"{SCHEMA}\" key) nor an EAP-IG graph (\"cfg\", \"nodes\" and \"edges\" keys); {FIX}")


def _is_json(raw: bytes) -> bool:
    return raw.lstrip()[:1] in (b"{", b"[")


READERS: list[Reader] = [
    Reader(looks_like_torch_save, lambda raw, source: (circuit_from_reference(raw, source), SourceKind.REFERENCE_PTH)),
    Reader(_is_json, _read_json),
]


def load_circuit_any(path_spec: str | Path) -> LoadedCircuit:
    """A validated circuit from any supported file; a UserError line otherwise."""
    source = str(path_spec)
    return load_circuit_bytes(read_file_bytes(Path(source)), source)


def load_circuit_bytes(raw: bytes, source: str) -> LoadedCircuit:
    """A validated circuit from a file's bytes, whichever reader claims them."""
    for reader in READERS:
        if reader.claims(raw):
            circuit, kind = reader.read(raw, source)
            return LoadedCircuit(circuit, kind, source)
    raise UserError(f"{source} is not a circuit file acdc-tui knows; {FIX}")
