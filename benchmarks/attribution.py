"""Attribution beside exact ACDC, and the attribution prefilter's speed-up and circuit difference.

    .venv/bin/python benchmarks/attribution.py correlation [--cases NAMES]   # docs/attribution.md table: ρ and top-k overlap
    .venv/bin/python benchmarks/attribution.py prefilter [--cases NAMES] [--fractions 0.5,0.9]

Cases: tracr-reverse (L2, τ 0.01), tracr-proportion (L2, τ 0.01), induction (KL, τ 0.1; and NLL, τ 0.1,
a metric whose gradient does not vanish on the clean run), gpt2-narrow (benchmarks/fixtures.py: a
GPT-2-small-shaped random model, 32,923 edges, KL, τ 0.01; about 6 min per exact run on one CPU thread).
Float32, fast engine, one thread: run it on a quiet machine.

correlation: one exact ACDC run per case; EAP and EAP-IG (5 steps) scores with the run's metric and
ablation; Spearman's ρ between |score| and |Δ| over the edges ACDC measured; how many of the k edges
ACDC kept fall outside attribution's top k.

prefilter: the exact run against `--prefilter eap-ig:F` (F = 0.5, 0.9): setup time (engine, and the
prefilter's attribution), ACDC loop time, edges tested, speed-up of the total, edges only in one
circuit, final metric; on the tracr tasks also the
edge AUC of a sweep (τ = 10^-6 .. 1, 7 points) with and without the prefilter.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import tasks  # noqa: E402
from acdc_tui.core.ablation import Ablation  # noqa: E402
from acdc_tui.analysis.attribution import compare, outcomes_of_run  # noqa: E402
from acdc_tui.analysis.sweep import parse_logspace, run_sweep  # noqa: E402
from acdc_tui.core.events import EdgeForced, EdgeTested  # noqa: E402
from acdc_tui.engines.attribution import Method  # noqa: E402
from acdc_tui.runs.experiment import Settings, prepare  # noqa: E402
from acdc_tui.runs.prefilter import task_attribution  # noqa: E402

# name -> (task, task directory fixture or None, metric, τ)
CASES = {
    "tracr-reverse": ("tracr-reverse", None, "l2", 0.01),
    "tracr-proportion": ("tracr-proportion", None, "l2", 0.01),
    "induction": ("induction", None, "kl", 0.1),
    "induction-nll": ("induction", None, "nll", 0.1),
    "gpt2-narrow": (None, "gpt2-narrow", "kl", 0.01),
}


def load(name: str):
    task_name, fixture, metric, tau = CASES[name]
    task_dir = None
    if fixture is not None:
        from benchmarks.fixtures import write_fixture

        task_dir = str(write_fixture(fixture, Path(tempfile.gettempdir()) / f"acdc-bench-{fixture}"))
    return tasks.load_task(task_name, task_dir, "cpu", torch.float32), metric, tau


def exact_run(task, metric: str, tau: float, prefilter: str | None = None):
    """(experiment after the run, seconds of setup (engine, the prefilter's attribution) and of the
    ACDC loop, edges tested)."""
    start = time.perf_counter()
    exp = prepare(task, Settings(threshold=tau, metric=metric, prefilter=prefilter))
    setup = time.perf_counter() - start
    tested = sum(isinstance(ev, (EdgeTested, EdgeForced)) for ev in exp.run.events())
    return exp, setup, time.perf_counter() - start - setup, tested


def correlation(names: list[str]) -> None:
    print("| task | metric, τ | tested edges | ACDC kept | method | ρ(\\|score\\|, \\|Δ\\|) | kept outside top-k | attribution | ACDC run |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        task, metric, tau = load(name)
        exp, _, secs, _ = exact_run(task, metric, tau)
        for method in Method:
            start = time.perf_counter()
            scores = task_attribution(task, exp.graph, metric, method, Ablation.CORRUPTED)
            att = time.perf_counter() - start
            c = compare(scores.scores, outcomes_of_run(exp.run))
            rho = "vanishes" if scores.vanishing else "undefined" if c.spearman is None else f"{c.spearman:.3f}"
            outside = "n/a" if scores.vanishing else f"{c.outside_top_k}/{c.kept}"
            print(f"| {name} | {metric}, {tau:g} | {exp.run.total} | {c.kept} | {method.value} | {rho} | {outside} | {att:.2f} s | {secs:.2f} s |", flush=True)


def _auc(task, metric: str, prefilter: str | None) -> float | None:
    exp = prepare(task, Settings(threshold=1.0, metric=metric, prefilter=prefilter))
    return run_sweep(exp, parse_logspace("-6,0,7"), stderr=io.StringIO(), quiet=True).auc


def prefilter(names: list[str], fractions: list[float]) -> None:
    print("| task | prefilter | setup | ACDC loop | edges tested | speed-up (total) | kept | only exact | only prefiltered | final metric | sweep AUC |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        task, metric, tau = load(name)
        exact, setup, secs, tested = exact_run(task, metric, tau)
        exact_edges = {r.edge.key for r in exact.run.records.values() if r.present and r.edge.tested}
        tracr = name.startswith("tracr")
        auc = f"{_auc(task, metric, None):.3f}" if tracr else ""
        print(f"| {name} | none (exact) | {setup:.2f} s | {secs:.2f} s | {tested} | 1 | {len(exact_edges)} | | | {exact.run.current_metric:.4g} | {auc} |", flush=True)
        for fraction in fractions:
            spec = f"eap-ig:{fraction:g}"
            exp, psetup, psecs, ptested = exact_run(task, metric, tau, spec)
            edges = {r.edge.key for r in exp.run.records.values() if r.present and r.edge.tested}
            auc = f"{_auc(task, metric, spec):.3f}" if tracr else ""
            speedup = (setup + secs) / (psetup + psecs)
            print(f"| {name} | {spec} | {psetup:.2f} s | {psecs:.2f} s | {ptested} | {speedup:.2f}x | {len(edges)} | {len(exact_edges - edges)} | {len(edges - exact_edges)} | {exp.run.current_metric:.4g} | {auc} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["correlation", "prefilter"])
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {', '.join(CASES)}")
    parser.add_argument("--fractions", default="0.5,0.9", help="prefilter fractions")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    names = args.cases.split(",")
    if args.what == "correlation":
        correlation(names)
    else:
        prefilter(names, [float(f) for f in args.fractions.split(",")])


if __name__ == "__main__":
    main()
