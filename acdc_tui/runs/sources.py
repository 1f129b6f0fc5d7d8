"""Circuits from anywhere: a circuit file of any supported format, or a run journal (`JOURNAL` for its
end, `JOURNAL@STEP` for the state right after event STEP). What `diff`, `open`, `dot` and
`--pins-from` read."""

from __future__ import annotations

from pathlib import Path

from acdc_tui.core.errors import UserError
from acdc_tui.io.loader import LoadedCircuit, SourceKind, load_circuit_any
from acdc_tui.runs.journal.view import circuit_from_journal, is_journal


def split_step(spec: str) -> tuple[str, int | None]:
    """`PATH@STEP` -> (PATH, STEP) when PATH is a journal; otherwise (spec, None)."""
    path, sep, step = spec.rpartition("@")
    if sep and step.isdigit() and is_journal(path):
        return path, int(step)
    if sep and is_journal(path):
        raise UserError(f"{spec}: the part after @ must be an event number, e.g. {path}@120")
    return spec, None


def load_any(spec: str | Path) -> LoadedCircuit:
    """A validated circuit from a circuit file or a journal (optionally @STEP); one line otherwise."""
    path, step = split_step(str(spec))
    if is_journal(path):
        if not Path(path).is_file():
            raise UserError(f"journal {path} does not exist")
        return LoadedCircuit(circuit_from_journal(path, step), SourceKind.JOURNAL, str(spec))
    return load_circuit_any(path)
