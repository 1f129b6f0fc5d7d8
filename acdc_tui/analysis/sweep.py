"""Threshold sweeps: ACDC at many τ over one experiment, edges kept and metric per τ, and the
edge-level ROC curve and AUC against the task's ground truth (when it has one).

The task, graph and engine are built once: every τ gets a fresh `AcdcRun` over the same engine,
so the clean and ablated activations are computed once for the whole sweep. The full-model and
empty-circuit metrics do not depend on τ and are evaluated once (see `evaluation`).

Sweep JSON, schema `acdc-tui.sweep` version 2 (documented in docs/sweeps.md):

    {
      "schema": "acdc-tui.sweep", "schema_version": 2, "acdc_tui_version": str, "created": ISO-8601,
      "complete": bool,                        # false when the sweep was stopped early
      "task": {"name", "source", "metric", "description"},
      "model": {"config": {...}, "fingerprint": "sha256:..."},
      "settings": {"sweep_over": "threshold"|"top-k", "thresholds": [float], "zero_ablation", "mean_ablation",
                   "abs_value_threshold", "tree_shaking", "engine", "device", "dtype", "prefilter",
                   "use_pos_embed", "reference", "pins": [edge], "force_prunes": [edge],
                   "attribution": {"method", "steps", "fractions"}|null},       # top-k sweeps
      "metrics": {"full": float, "empty": float|null},
      "summary": {"edges_total", "ground_truth_edges": int|null, "runs", "elapsed_s", "auc": float|null,
                  "cpr": float|null, "cmd": float|null},
      "points": [{"threshold", "edges_kept", "metric", "complete", "elapsed_s",
                  "edge_fraction", "faithfulness": float|null,               # MIB's f(C), analysis/faithfulness.py
                  "tp", "fp", "fn", "tn", "tpr", "fpr", "precision",    # null without a ground truth
                  "edges": [[sender hook, head, receiver hook, head]]}],  # only with --with-edges
      "roc": [{"threshold": float|null, "fpr", "tpr", "precision", "n_edges": int|null}] | null,
      "auc": float|null,
      "faithfulness": {"cpr": float|null, "cmd": float|null, "note": str|null}
    }

`points` are in decreasing τ. In a top-k sweep (`sweep --top-k METHOD`) each point is the circuit of
the k edges with the largest |attribution score|, and its `threshold` is the smallest |score| kept.
`roc` adds the end points (0, 0) and (1, 1) (threshold null: +inf and -inf). Counts, rates and
`edges_kept` are over tested (non-placeholder) edges only. Version 1 (no faithfulness, no
`sweep_over`) still reads.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Sequence

import orjson

from acdc_tui.analysis import roc as roc_mod
from acdc_tui.analysis.faithfulness import FaithfulnessCurve, curve, format_faithfulness
from acdc_tui.core.errors import UserError
from acdc_tui.core.events import EdgeForced, EdgesPrefiltered, EdgeTested, NodeSkipped
from acdc_tui.io.versioned import read_versioned
from acdc_tui.runs.evaluation import empty_metric, full_metric
from acdc_tui.runs.experiment import Experiment, describe, new_run, run_settings

SCHEMA = "acdc-tui.sweep"
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
MAX_RUNS = 1000


# ---- parsing the threshold grid ----


def parse_thresholds(text: str) -> list[float]:
    """'0.1,1e-3,0' -> [0.1, 0.001, 0.0]; one-line UserError on anything else."""
    items = [t.strip() for t in text.split(",")]
    if not text.strip() or any(not t for t in items):
        raise UserError(f"--thresholds {text!r}: give comma-separated numbers, e.g. --thresholds 0.1,0.01,1e-6")
    values = []
    for t in items:
        try:
            v = float(t)
        except ValueError:
            raise UserError(f"--thresholds: {t!r} is not a number (e.g. --thresholds 0.1,0.01,1e-6)") from None
        if not math.isfinite(v):
            raise UserError(f"--thresholds: {t!r} is not a finite number")
        values.append(v)
    return _grid(values, "--thresholds")


def parse_logspace(text: str) -> list[float]:
    """'LO,HI,N' -> N thresholds from 10**LO to 10**HI, evenly spaced in log10 (numpy.logspace)."""
    items = [t.strip() for t in text.split(",")]
    if len(items) != 3:
        raise UserError(f"--logspace {text!r}: give LO,HI,N (powers of ten and a count), e.g. --logspace -6,0,7 for 1e-6 ... 1")
    try:
        lo, hi = float(items[0]), float(items[1])
    except ValueError:
        raise UserError(f"--logspace {text!r}: LO and HI must be numbers (exponents of ten), e.g. --logspace -6,0,7") from None
    try:
        n = int(items[2])
    except ValueError:
        raise UserError(f"--logspace {text!r}: N must be a whole number of thresholds, e.g. --logspace -6,0,7") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or not (-300 <= lo <= 300 and -300 <= hi <= 300):
        raise UserError(f"--logspace {text!r}: LO and HI are exponents of ten between -300 and 300")
    if n < 1:
        raise UserError(f"--logspace {text!r}: N must be at least 1")
    if n > MAX_RUNS:  # before building the grid: a typo such as -6,0,7000000 must not hang the machine
        raise UserError(f"--logspace {text!r}: {n} thresholds is more than {MAX_RUNS} runs: use fewer, e.g. --logspace -6,0,13")
    if n == 1:
        return _grid([10.0**lo], "--logspace")
    step = (hi - lo) / (n - 1)
    return _grid([float(f"{10.0 ** (lo + i * step):.12g}") for i in range(n)], "--logspace")


def _grid(values: list[float], option: str) -> list[float]:
    out = sorted(set(values), reverse=True)
    if len(out) > MAX_RUNS:
        raise UserError(f"{option}: {len(out)} thresholds is more than {MAX_RUNS}: use fewer")
    return out


# ---- running ----


@dataclass
class SweepPoint:
    threshold: float
    edges_kept: int
    metric: float | None  # the circuit's metric at the end of this run
    complete: bool
    elapsed_s: float
    edges: frozenset  # tested edge keys present at the end
    confusion: roc_mod.Confusion | None = None


@dataclass
class SweepResult:
    exp: Experiment
    thresholds: list[float]
    points: list[SweepPoint] = field(default_factory=list)
    full: float | None = None
    empty: float | None = None
    complete: bool = False
    elapsed_s: float = 0.0
    roc: list[roc_mod.RocPoint] | None = None
    auc: float | None = None
    roc_note: str | None = None  # why there is no ROC
    signal: int | None = None  # the signal that stopped the sweep early
    attribution: dict | None = None  # a top-k sweep's method, steps and fractions (None: a sweep over τ)

    @property
    def edges_total(self) -> int:
        return self.exp.run.total

    def faithfulness(self) -> FaithfulnessCurve:
        """MIB's f of every point (those not finished have none), CPR and CMD over the finished ones."""
        sizes = [(p.edges_kept, p.metric if p.complete else None) for p in self.points]
        return curve(sizes, self.edges_total, self.full, self.empty)


def edge_key(edge) -> tuple:
    return (edge.sender.name, edge.sender.head, edge.receiver.name, edge.receiver.head)


def run_sweep(exp: Experiment, thresholds: Sequence[float], stderr: IO[str] | None = None, quiet: bool = False, journal=None) -> SweepResult:
    """ACDC at every τ (in the order given) over `exp`'s engine. Ctrl-C stops the sweep: the runs
    finished so far are kept, the one in progress is recorded as incomplete, `complete` is False.
    With a `journal` (a JournalWriter), point i records its events as run i."""
    from acdc_tui.analysis.text_plot import wants_ascii
    from acdc_tui.runs.progress import Progress, ProgressLine

    stderr = stderr or sys.stderr
    tau_sym = "tau" if wants_ascii(stderr) else "τ"
    result = SweepResult(exp, list(thresholds))
    truth = exp.task.ground_truth
    universe = frozenset(edge_key(e) for e in exp.graph.tested_edges)
    start = time.monotonic()
    try:
        for i, tau in enumerate(thresholds, 1):
            run = new_run(exp, tau)
            if journal is not None:
                journal.add_run(i, tau)
            progress = Progress(run.total)
            meter = None if quiet else ProgressLine(stderr, progress, first_line_now=False)  # a line per τ below; more only for slow runs
            t0 = time.monotonic()
            finished = False
            try:
                for ev in run.events():
                    if journal is not None:
                        journal.append(i, ev)
                    if isinstance(ev, (EdgeTested, EdgeForced, NodeSkipped, EdgesPrefiltered)):
                        progress.done = ev.done
                        progress.tested += isinstance(ev, (EdgeTested, EdgeForced))
                        if meter:
                            meter.update(run.kept(), run.current_metric)
                finished = run.finished
            finally:
                if meter and meter.tty:
                    stderr.write("\r\x1b[2K")  # the per-τ line below replaces the live one
                found = frozenset(edge_key(r.edge) for r in run.records.values() if r.present and r.edge.tested)
                point = SweepPoint(tau, run.kept(), run.current_metric, finished, time.monotonic() - t0, found)
                if truth is not None:
                    point.confusion = roc_mod.confusion(found, truth, universe)
                result.points.append(point)
            if not quiet:
                stderr.write(f"[{i}/{len(thresholds)}] {tau_sym}={tau:.6g}: kept {point.edges_kept}/{run.total} edges, metric {_g(point.metric)} ({point.elapsed_s:.2f} s)\n")
                stderr.flush()
        result.full = full_metric(exp)
        result.empty = empty_metric(exp)
        result.complete = True
    except KeyboardInterrupt as interrupt:
        result.complete = False
        result.signal = getattr(interrupt, "signum", 2)  # SIGINT, or the SIGTERM/SIGHUP the CLI turned into this
        if exp.run.initial_metric is not None:
            result.full = full_metric(exp)
        result.empty = exp.meta.get("metric_empty")
    result.elapsed_s = time.monotonic() - start
    add_roc(result, truth, universe)
    return result


def add_roc(result: SweepResult, truth, universe) -> None:
    if truth is None:
        result.roc_note = f"task {result.exp.task.name} has no ground-truth circuit: no ROC curve or AUC"
        return
    done = [(p.threshold, p.edges) for p in result.points if p.complete]
    if not done:
        result.roc_note = "no run finished: no ROC curve or AUC"
        return
    try:
        result.roc = roc_mod.roc_points(done, truth, universe)
    except ValueError as e:
        result.roc_note = f"no ROC curve or AUC: {e}"
        return
    result.auc = roc_mod.auc(result.roc)


# ---- output ----


def sweep_to_json(result: SweepResult, with_edges: bool = False) -> dict[str, Any]:
    from acdc_tui import __version__

    exp, s, task = result.exp, result.exp.settings, result.exp.task
    task_info, model_info = describe(exp)
    truth = task.ground_truth
    universe = {edge_key(e) for e in exp.graph.tested_edges}
    faith = result.faithfulness()
    f_of = [fp.faithfulness for fp in faith.points] or [None] * len(result.points)
    points = []
    for p, f in zip(result.points, f_of):
        d: dict[str, Any] = {"threshold": p.threshold, "edges_kept": p.edges_kept, "metric": p.metric, "complete": p.complete, "elapsed_s": round(p.elapsed_s, 3)}
        d.update({"edge_fraction": p.edges_kept / result.edges_total if result.edges_total else None, "faithfulness": f})
        c = p.confusion
        d.update(
            {"tp": c.tp, "fp": c.fp, "fn": c.fn, "tn": c.tn, "tpr": _num(c.tpr), "fpr": _num(c.fpr), "precision": c.precision}
            if c is not None
            else dict.fromkeys(("tp", "fp", "fn", "tn", "tpr", "fpr", "precision"))
        )
        if with_edges:
            d["edges"] = [list(k) for k in sorted(p.edges, key=_sort_key)]
        points.append(d)
    roc = None
    if result.roc is not None:
        roc = [
            {"threshold": p.threshold if math.isfinite(p.threshold) else None, "fpr": p.fpr, "tpr": p.tpr, "precision": p.precision, "n_edges": p.n_edges}
            for p in result.roc
        ]
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "acdc_tui_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "complete": result.complete,
        "task": task_info,
        "model": model_info,
        "settings": {
            "sweep_over": "threshold" if result.attribution is None else "top-k",
            "thresholds": list(result.thresholds),
            **run_settings(exp),
            "pins": list(s.pins),
            "force_prunes": list(s.force_prunes),
            "attribution": result.attribution,
        },
        "metrics": {"full": result.full, "empty": result.empty},
        "summary": {
            "edges_total": result.edges_total,
            "ground_truth_edges": None if truth is None else len(set(truth) & universe),
            "runs": len(result.points),
            "elapsed_s": round(result.elapsed_s, 3),
            "auc": result.auc,
            "cpr": faith.cpr,
            "cmd": faith.cmd,
        },
        "points": points,
        "roc": roc,
        "auc": result.auc,
        "faithfulness": {"cpr": faith.cpr, "cmd": faith.cmd, "note": faith.note},
    }


def write_sweep(result: SweepResult, path: str | Path, with_edges: bool = False) -> Path:
    """Write atomically (temp file + rename)."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise UserError(f"cannot write {path}: directory {str(path.parent)!r} does not exist")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(sweep_to_json(result, with_edges), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY))
    os.replace(tmp, path)
    return path


def read_sweep(path: str | Path) -> dict[str, Any]:
    return read_versioned(path, SCHEMA, READABLE_VERSIONS, "sweep file", "pass a file written by acdc-tui sweep --out")


def format_table(result: SweepResult) -> str:
    """One row per τ: edges kept, metric, and with a ground truth TP/FP/FN, TPR, FPR, precision."""
    has_truth = any(p.confusion is not None for p in result.points)
    faith = {id(p): fp.faithfulness for p, fp in zip(result.points, result.faithfulness().points)}
    head = f"{'threshold':>12}  {'edges':>9}  {'metric':>12}  {'f':>7}"
    if has_truth:
        head += f"  {'TP':>4} {'FP':>4} {'FN':>4}  {'TPR':>5}  {'FPR':>5}  {'prec':>5}"
    rows = [head, "-" * len(head)]
    for p in sorted(result.points, key=lambda p: p.threshold, reverse=True):
        f = faith.get(id(p))
        row = f"{p.threshold:>12.4g}  {p.edges_kept:>4}/{result.edges_total:<4}  {_g(p.metric):>12}  {'n/a' if f is None else f'{f:.4f}':>7}"
        if p.confusion is not None:
            c = p.confusion
            row += f"  {c.tp:>4} {c.fp:>4} {c.fn:>4}  {c.tpr:>5.3f}  {c.fpr:>5.3f}  {c.precision:>5.3f}"
        if not p.complete:
            row += "  (stopped)"
        rows.append(row)
    return "\n".join(rows) + "\n"


def format_report(result: SweepResult, ascii: bool = False, width: int = 50, height: int = 12) -> str:
    """Table, metrics, plots (ROC with a ground truth; edges kept against τ), AUC line."""
    from acdc_tui.analysis.text_plot import Series, plot

    exp = result.exp
    name = exp.metric_name
    tau = "tau" if ascii else "τ"
    out = [format_table(result)]
    out.append(f"metric {name}: full model {_g(result.full)}, empty circuit {_g(result.empty)}\n")
    if result.roc is not None:
        pts = [(p.fpr, p.tpr) for p in result.roc]
        out.append(
            plot(
                [Series(roc_mod.staircase(result.roc), step=True, marker=" "), Series(pts)],
                x_range=(0.0, 1.0), y_range=(0.0, 1.0), width=width, height=height, ascii=ascii,
                title=f"ROC (edges), AUC {result.auc:.3f}", y_label="TPR", x_label="FPR",
            )
        )
    done = [(p.threshold, p.edges_kept) for p in result.points] if result.attribution is None else []  # (top-k: sizes are the grid)
    positive = [(t, k) for t, k in done if t > 0]
    if len(positive) >= 2:
        out.append(
            plot(
                [Series(sorted(positive))], log_x=True, y_range=(0.0, float(result.edges_total)), width=width, height=height,
                ascii=ascii, title="edges kept vs threshold", y_label="edges", x_label=f"threshold {tau} (log scale)",
            )
        )
    elif len(done) >= 2:
        out.append(
            plot(
                [Series(sorted(done))], y_range=(0.0, float(result.edges_total)), width=width, height=height,
                ascii=ascii, title="edges kept vs threshold", y_label="edges", x_label=f"threshold {tau}",
            )
        )
    if result.roc is None and result.roc_note and exp.task.ground_truth is not None:
        out.append(result.roc_note + "\n")  # (without a ground truth the CLI has said so already)
    if result.auc is not None:
        out.append(f"AUC (edges, the paper's pessimistic Pareto staircase): {result.auc:.3f} over {sum(p.complete for p in result.points)} thresholds\n")
    out.append(format_faithfulness(result.faithfulness(), ascii=ascii, width=width, height=height))
    return "\n".join(out)


def _g(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.6g}"


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _sort_key(k: tuple) -> tuple:
    return tuple(-1 if v is None else v for v in k)
