"""The headless sink: reference-format log, progress on stderr, summary, circuit JSON (and DOT)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import IO

from acdc_tui.core.events import EdgeForced, EdgeTested, NodeSkipped, RunFinished
from acdc_tui.io.writer import OutputFormat, write_circuit_as
from acdc_tui.io.reference_log import format_event
from acdc_tui.runs.experiment import Experiment, to_circuit
from acdc_tui.runs.progress import Progress, ProgressLine


def run_headless(
    exp: Experiment,
    out: str | Path,
    log: str | Path | None = None,
    dot: str | Path | None = None,
    quiet: bool = False,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    fmt: OutputFormat | str = OutputFormat.JSON,
):
    """Run to the end, writing the log as it goes; on Ctrl-C, save what was decided so far."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr  # looked up per call: tests swap them
    run = exp.run
    progress = Progress(run.total)
    meter = ProgressLine(stderr, progress)
    log_file = open(log, "w", encoding="utf-8") if log else None
    complete = False
    try:
        for ev in run.events():
            lines = format_event(ev)
            if log_file:
                log_file.write("".join(l + "\n" for l in lines))
            if not quiet and lines:
                if meter.tty:
                    stderr.write("\r\x1b[2K")  # keep the progress line from mixing with the log on a shared terminal
                stdout.write("".join(l + "\n" for l in lines))
            if isinstance(ev, (EdgeTested, EdgeForced, NodeSkipped)):
                progress.done = ev.done
                progress.tested += not isinstance(ev, NodeSkipped)
                meter.update(run.kept(), run.current_metric)
            if isinstance(ev, RunFinished):
                complete = ev.complete
        meter.update(run.kept(), run.current_metric, force=True)
    finally:
        meter.close()
        if log_file:
            log_file.close()
        # Written even when interrupted: a long run's decisions are never lost.
        circuit = to_circuit(exp, progress.elapsed, complete)
        write_circuit_as(circuit, out, fmt)
        if dot:
            write_circuit_as(circuit, dot, OutputFormat.DOT)
    m = circuit.metrics
    summary = (
        f"Summary: kept {circuit.summary['edges_kept']}/{run.total} edges; metric {run.initial_metric:.6g} -> {run.current_metric:.6g} "
        f"({exp.metric_name}: full model {_g(m.get('full'))}, circuit {_g(m.get('circuit'))}, empty circuit {_g(m.get('empty'))}); "
        f"{progress.tested} edges tested in {progress.elapsed:.2f} s ({progress.rate:.1f} edges/s); circuit written to {out}"
    )
    stdout.write(summary + "\n")
    stdout.flush()
    return circuit


def _g(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.6g}"
