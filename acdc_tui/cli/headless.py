"""The headless sink: the reference-format log (stdout and --log), progress on stderr, the summary.

The log file is a live record: opened for appending (a new run never truncates another run's log;
each run starts with a `#` header line naming its journal) and flushed line by line.
"""

from __future__ import annotations

import datetime as _dt
import sys
from pathlib import Path
from typing import IO

from acdc_tui.core.algorithm import AcdcRun
from acdc_tui.core.events import EdgeForced, EdgesPrefiltered, EdgeTested, Event, NodeSkipped, RunFinished
from acdc_tui.io.circuit import Circuit
from acdc_tui.io.reference_log import format_event
from acdc_tui.runs.progress import LayerCosts, Progress, ProgressLine, decided_keys


class HeadlessSink:
    def __init__(
        self,
        run: AcdcRun,
        log: str | Path | None = None,
        quiet: bool = False,
        header: str = "",
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
    ) -> None:
        self.stdout, self.stderr = stdout or sys.stdout, stderr or sys.stderr  # looked up per call: tests swap them
        self.quiet = quiet
        self.progress = Progress(run.total, costs=LayerCosts.of_graph(run.graph, decided_keys(run)))
        self.progress.done = run.done
        self.meter = ProgressLine(self.stderr, self.progress)
        self.log_file = open(log, "a", encoding="utf-8", buffering=1) if log else None
        if self.log_file is not None:
            stamp = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            self.log_file.write(f"# acdc-tui {stamp}: {header}\n")
        self.metric: float | None = None

    def on_event(self, event: Event, run: AcdcRun) -> None:
        lines = format_event(event)
        if lines:
            text = "".join(line + "\n" for line in lines)
            if self.log_file is not None:
                self.log_file.write(text)
            if not self.quiet:
                if self.meter.tty:
                    self.stderr.write("\r\x1b[2K")  # keep the progress line from mixing with the log on a shared terminal
                self.stdout.write(text)
        if isinstance(event, (EdgeTested, EdgeForced, NodeSkipped, EdgesPrefiltered)):
            self.progress.on_event(event)
            self.meter.update(run.kept(), run.current_metric)
        if isinstance(event, RunFinished):
            self.meter.update(run.kept(), run.current_metric, force=True)

    def on_note(self, text: str) -> None:
        if self.meter.tty:
            self.stderr.write("\r\x1b[2K")
        self.stderr.write(f"acdc-tui: {text}\n")
        self.stderr.flush()

    def close(self) -> None:
        self.meter.close()
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None

    def summary(self, circuit: Circuit, run: AcdcRun, metric_name: str, out: Path | None) -> str:
        m = circuit.metrics
        where = f"; circuit written to {out}" if out is not None else ""
        return (
            f"Summary: kept {circuit.summary['edges_kept']}/{run.total} edges; metric {_g(run.initial_metric)} -> {_g(run.current_metric)} "
            f"({metric_name}: full model {_g(m.get('full'))}, circuit {_g(m.get('circuit'))}, empty circuit {_g(m.get('empty'))}); "
            f"{self.progress.tested} edges tested in {self.progress.elapsed:.2f} s ({self.progress.rate:.1f} edges/s){where}"
        )


def _g(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.6g}"
