"""Time headless ACDC runs of the plain engine on the builtin tasks (one process, one thread count).

    .venv/bin/python benchmarks/headless_runs.py [--threads N] [--repeat K]

Reports, per task and ablation: edges tested, wall time of the run (model and data already
loaded), edges tested per second, and the circuit size. Run it on a quiet machine: on 2 shared
cores another busy process slows torch 10-40x.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

import tasks  # noqa: E402
from acdc_tui.events import EdgeForced, EdgeTested  # noqa: E402
from acdc_tui.experiment import Settings, prepare  # noqa: E402

CASES = [("tracr-reverse", 0.01, False), ("tracr-reverse", 1e-6, True), ("tracr-proportion", 0.01, False), ("tracr-proportion", 1e-6, True)]


def time_run(task_name: str, threshold: float, zero: bool) -> tuple[float, int, int, int]:
    task = tasks.load_task(task_name)
    exp = prepare(task, Settings(threshold=threshold, zero_ablation=zero))
    start = time.perf_counter()
    tested = sum(isinstance(ev, (EdgeTested, EdgeForced)) for ev in exp.run.events())
    return time.perf_counter() - start, tested, exp.run.kept(), exp.run.total


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeat} runs")
    print(f"{'task':18} {'ablation':9} {'tested':>6} {'kept':>9} {'run s':>7} {'edges/s':>8}")
    for name, tau, zero in CASES:
        runs = [time_run(name, tau, zero) for _ in range(args.repeat)]
        secs = statistics.median(r[0] for r in runs)
        _, tested, kept, total = runs[0]
        print(f"{name:18} {'zero' if zero else 'corrupt':9} {tested:6d} {f'{kept}/{total}':>9} {secs:7.3f} {tested / secs:8.1f}")


if __name__ == "__main__":
    main()
