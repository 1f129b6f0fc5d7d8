"""Export from the explorer: what is shown is what is written.

A run's export is read from its journal at the event shown (the live position, or the past event a
time-travel cursor is at), exactly as `acdc-tui export JOURNAL --step N` reads it: no run process is
needed, so a finished, stopped or crashed run exports too. Quitting with `s` stops the run first and
exports the stopped run's journal once the run has ended. Default paths carry the run's own name and
sit beside its journal; a path outside the run's output folders, or an existing file this session
did not write, is written only after the user confirms (serve: a browser user must not write
anywhere as the user silently).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from acdc_tui.core.errors import UserError


@dataclass(frozen=True)
class ExportTarget:
    """Where an export goes and what it writes: a journal at a step (None: its end), or a browsed circuit."""

    out: Path
    dot: Path
    journal: Path | None = None
    step: int | None = None


def default_export_path(journal: Path | None, step: int | None, browsed: Path | None = None) -> Path:
    """`<run>-export.json` beside the journal (`<run>-event<N>.json` for a past event); a browsed file's copy beside it."""
    from acdc_tui.runs.paths import output_dir, sidecar

    if journal is not None:
        return sidecar(journal, "-export.json" if step is None else f"-event{step}.json")
    if browsed is not None:
        return browsed.with_name(f"{browsed.stem}-copy.json")
    return output_dir() / "circuit.json"


def output_roots(journal: Path | None, browsed: Path | None, out: Path | None) -> list[Path]:
    """Folders an export may write to without asking: the output folder, the journal's, the browsed file's, the given --out's."""
    from acdc_tui.runs.paths import output_dir

    roots = [output_dir()] + [p.parent for p in (journal, browsed, out) if p is not None]
    return [r.resolve() for r in roots]


def is_under(path: Path, roots: list[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved == r or r in resolved.parents for r in roots)


def check_path(text: str) -> str | None:
    """The export dialog's check: one line when the path cannot be a file to write."""
    p = Path(text.strip() or ".").expanduser()
    if p.is_dir():
        return f"{p} is a directory: give a file name"
    if not p.parent.is_dir():
        return f"directory {str(p.parent)!r} does not exist"
    return None


def questions(path: Path, roots: list[Path], written: set[Path]) -> list[str]:
    """What to confirm before writing `path`: outside the output folders, overwriting a file this session did not write."""
    asks = []
    if not is_under(path, roots):
        asks.append(f"{path.resolve()} is outside the run's output folders ({', '.join(map(str, roots[:2]))})")
    for p in (path, path.with_suffix(".dot")):
        if p.exists() and p.resolve() not in written:
            asks.append(f"{p} exists (another run's export, or a file of yours): overwrite it")
    return asks


def export_journal(target: ExportTarget) -> str:
    """Write the journal's circuit at `target.step` (its end when None); a line for the log."""
    from acdc_tui.runs.journal.view import circuit_from_journal
    from acdc_tui.runs.outputs import Outputs, check_distinct, write_outputs

    check_distinct([("the export", target.out), ("the DOT file", target.dot)], [("the journal", target.journal)])
    circuit = circuit_from_journal(target.journal, target.step)
    write_outputs(circuit, Outputs(target.out, target.dot), target.journal)
    where = f"after event {target.step}" if target.step is not None else ("complete" if circuit.complete else "partial: the run has not finished")
    dangling = circuit.summary.get("edges_dangling")
    warn = f"; {dangling} kept edge(s) dangle (marked in the file)" if dangling else ""
    return f"exported {circuit.summary['edges_kept']} kept edges ({where}) to {target.out} and {target.dot}{warn}"


def export_circuit(circuit, target: ExportTarget) -> str:
    """Write a browsed circuit file's copy (JSON and DOT)."""
    from acdc_tui.io.circuit import write_circuit
    from acdc_tui.io.dot import to_dot

    write_circuit(circuit, target.out)
    target.dot.write_text(to_dot(circuit))
    return f"exported to {target.out} and {target.dot}"


def run_export(target: ExportTarget, circuit=None) -> str:
    """Export (in a worker thread); an error comes back as an 'error: ...' line."""
    try:
        return export_circuit(circuit, target) if target.journal is None else export_journal(target)
    except UserError as e:
        return f"error: {e}"
    except OSError as e:
        return f"error: cannot write {target.out}: {e.strerror or e}"


class ExportMixin:
    """The explorer's export actions (a mixin of ExplorerApp: client, circuit, state, cursor, position, out)."""

    def _init_export(self) -> None:
        self._written: set[Path] = set()  # files this session exported: rewritten without asking
        self._save_on_stop: ExportTarget | None = None  # quit with `s`: export once the run has stopped

    def _shown_step(self) -> int | None:
        """The event the shown state is right after; None when the run has ended (its journal's end)."""
        from acdc_tui.runs.driver import ENDED

        if self.cursor is not None:
            return self.cursor.seq
        status = self.state.status if self.state is not None else None
        if status is None or status.mode in ENDED:
            return None
        changes = self.client.timeline.changes
        return changes[self.position].event.seq if 0 <= self.position < len(changes) else None

    def _export_target(self, path: Path, step: int | None) -> ExportTarget:
        journal = self.client.journal if self._live_run else None
        return ExportTarget(path, path.with_suffix(".dot"), journal, step)

    def action_export(self) -> None:
        from acdc_tui.ui.widgets.dialogs import Prompt

        if not self._live_run and self.circuit is None:
            self._live()  # says why there is nothing to export yet
            return
        step = self._shown_step() if self._live_run else None
        journal = self.client.journal if self._live_run else None
        default = self.out or default_export_path(journal, step)
        what = f"the circuit as shown at event {step}" if step is not None else "the circuit"

        def done(value: str | None) -> None:
            if value is not None:
                self.confirm_export(self._export_target(Path(value.strip()).expanduser(), step))

        self.push_screen(Prompt(f"Export {what} to (DOT is written beside it)", str(default), check_path, "The same file as `acdc-tui export JOURNAL --step N`."), done)

    def confirm_export(self, target: ExportTarget) -> None:
        """Export, after asking when the path is outside the output folders or would overwrite a file."""
        from acdc_tui.ui.widgets.dialogs import Confirm

        journal = self.client.journal if self._live_run else None
        browsed = Path(self.description) if self.circuit is not None else None
        asks = questions(target.out, output_roots(journal, browsed, self.out), self._written)
        if not asks:
            self._export(target)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._export(target)
            else:
                self.notify("not exported", severity="warning")

        self.push_screen(Confirm("Write the export?\n" + "\n".join(f"• {a}" for a in asks)), answered)

    def _export(self, target: ExportTarget, then=None) -> None:
        circuit = self.circuit

        def work() -> None:
            note = run_export(target, circuit)
            self.call_from_thread(self._exported, target, note, then)

        self.run_worker(work, thread=True, group="export", exit_on_error=False)

    def _exported(self, target: ExportTarget, note: str, then) -> None:
        if not note.startswith("error"):
            self._written |= {target.out.resolve(), target.dot.resolve()}
        if self.query("#log"):
            self.query_one("#log").add_note(note)
        self.notify(note, severity="error" if note.startswith("error") else "information")
        if then is not None:
            then(note)

    # ---- quit with `s`: stop, then export the stopped run ----

    def save_and_stop(self) -> None:
        self._save_on_stop = self._export_target(self.out or default_export_path(self.client.journal, None), None)
        self.client.stop()
        self.notify("stopping the run: its circuit is exported as soon as it has stopped")

    def check_save_on_stop(self, status) -> None:
        """Called with each live status: once the run has ended, export its journal's end and quit."""
        from acdc_tui.runs.driver import ENDED

        if self._save_on_stop is None or status.mode not in ENDED:
            return
        target, self._save_on_stop = self._save_on_stop, None
        self._export(target, then=lambda note: self.exit())
