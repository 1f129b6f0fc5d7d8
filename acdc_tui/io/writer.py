"""Writing a circuit in any output format, atomically: `write_circuit_as(circuit, path, fmt)`."""

from __future__ import annotations

from pathlib import Path

from acdc_tui.core.errors import UserError
from acdc_tui.io.atomic import write_atomic
from acdc_tui.io.circuit import Circuit, circuit_json_bytes
from acdc_tui.io.dot import to_dot
from acdc_tui.io.eap import eap_json_bytes
from acdc_tui.io.formats import OutputFormat


def parse_format(text: str) -> OutputFormat:
    try:
        return OutputFormat(text)
    except ValueError:
        raise UserError(f"unknown circuit format {text!r}: choose one of {', '.join(f.value for f in OutputFormat)}") from None


def circuit_bytes(circuit: Circuit, fmt: OutputFormat | str, source: str = "the circuit") -> bytes:
    fmt = fmt if isinstance(fmt, OutputFormat) else parse_format(fmt)
    if fmt is OutputFormat.JSON:
        return circuit_json_bytes(circuit)
    if fmt is OutputFormat.EAP:
        return eap_json_bytes(circuit, source)
    return to_dot(circuit).encode()


def write_circuit_as(circuit: Circuit, path: str | Path, fmt: OutputFormat | str = OutputFormat.JSON) -> Path:
    """Write `circuit` to `path` in `fmt` (json, eap or dot) through a unique temporary file and a rename."""
    return write_atomic(path, circuit_bytes(circuit, fmt, str(path)))
