"""Time headless ACDC runs of the plain engine on the builtin tasks (one process, one thread count).

    .venv/bin/python benchmarks/headless_runs.py [--threads N] [--repeat K] [--gpt2-edges N]

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

import acdc_tui  # noqa: E402,F401  (its thread settings, before torch starts)
import torch  # noqa: E402

from acdc_tui.core.ablation import Ablation  # noqa: E402

import tasks  # noqa: E402
from acdc_tui.core.events import EdgeForced, EdgeTested
from acdc_tui.runs.experiment import Settings, prepare

CASES = [("tracr-reverse", 0.01, False), ("tracr-reverse", 1e-6, True), ("tracr-proportion", 0.01, False), ("tracr-proportion", 1e-6, True)]


def time_run(task_name: str, threshold: float, zero: bool) -> tuple[float, int, int, int]:
    task = tasks.load_task(task_name)
    exp = prepare(task, Settings(threshold=threshold, ablation=Ablation.of(zero, False)))
    start = time.perf_counter()
    tested = sum(isinstance(ev, (EdgeTested, EdgeForced)) for ev in exp.run.events())
    return time.perf_counter() - start, tested, exp.run.kept(), exp.run.total


def time_gpt2_shape(n_edges: int) -> None:
    """The first `n_edges` tests on a random GPT-2-small-shaped model with IOI-sized data (50 x 15), KL."""
    import functools

    from acdc_tui.core.metrics import kl_divergence
    from acdc_tui.models import backend
    from tasks.task import Task

    cfg = {"n_layers": 12, "n_heads": 12, "d_model": 768, "d_head": 64, "d_mlp": 3072, "d_vocab": 50257, "n_ctx": 1024, "act_fn": "gelu_new", "normalization_type": "LN"}
    torch.manual_seed(0)
    model = backend.build_model(cfg, None)
    g = torch.Generator().manual_seed(1)
    clean, corrupted = (torch.randint(0, 50257, (50, 15), generator=g) for _ in range(2))
    task = Task("gpt2-shape", "random", model, clean, corrupted, {"kl": functools.partial(kl_divergence, positions=(-1,))}, "kl")
    exp = prepare(task, Settings(threshold=0.0))  # removes nothing that raises the KL: late edges stay costly
    start, tested = time.perf_counter(), 0
    for ev in exp.run.events():
        if isinstance(ev, EdgeTested):
            tested += 1
            if tested == n_edges:
                break
    secs = time.perf_counter() - start
    print(f"gpt2-small shape, 50x15, KL: {tested} of {exp.run.total} edges in {secs:.2f} s = {tested / secs:.2f} edges/s "
          f"(a full run at this rate: {exp.run.total * secs / tested / 3600:.1f} h)")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--gpt2-edges", type=int, default=0, help="also time this many edge tests on a random GPT-2-small-shaped model")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), median of {args.repeat} runs")
    print(f"{'task':18} {'ablation':9} {'tested':>6} {'kept':>9} {'run s':>7} {'edges/s':>8}")
    for name, tau, zero in CASES:
        runs = [time_run(name, tau, zero) for _ in range(args.repeat)]
        secs = statistics.median(r[0] for r in runs)
        _, tested, kept, total = runs[0]
        print(f"{name:18} {'zero' if zero else 'corrupt':9} {tested:6d} {f'{kept}/{total}':>9} {secs:7.3f} {tested / secs:8.1f}")
    if args.gpt2_edges:
        time_gpt2_shape(args.gpt2_edges)


if __name__ == "__main__":
    main()
