"""Plain against fast engine on the same task, in one process: edges tested per second, ratio, peak memory.

    .venv/bin/python benchmarks/engines.py [--threads N] [--device cpu|cuda] [--only a,b,c] [--edges N] [--fast-edges N] [--dtype float32]

    a  tracr-reverse (L2, corrupted patching), a whole run with each engine
    b  a random 4-layer 8-head attention-only model, d_model 256, vocab 1000, data 20x24, KL
    c  a random GPT-2-small-shaped model (12L12H, d_model 768, d_mlp 3072, vocab 50257, LN, gelu_new),
       data 50x15, KL: the plain engine on the first --edges tests only (about 13 s a forward on a
       2-core CPU), the fast engine on --fast-edges (default 10x as many); rates compared

For (b) and (c) a fresh run with each engine tests the first edges in ACDC's order (the most
expensive: they sit next to the output; later edges are cheaper for the fast engine since most
of the circuit is gone by then). Peak memory: growth of the process's max RSS during the engine's
setup and run (CPU), or torch.cuda.max_memory_allocated (GPU). Both engines' decisions are
checked to agree on the edges both tested. Run it on a quiet machine: another busy process on
2 shared cores slows torch several-fold.
"""

from __future__ import annotations

import argparse
import functools
import math
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import acdc_tui  # noqa: E402,F401  (its thread settings, before torch starts)
import torch  # noqa: E402

import tasks  # noqa: E402
from acdc_tui.core.events import EdgeForced, EdgeTested, RunStarted
from acdc_tui.core.metrics import kl_divergence
from acdc_tui.models import backend
from acdc_tui.runs.experiment import Settings, prepare
from tasks.task import Task

CASES = {
    "a": "tracr-reverse, L2, whole run",
    "b": "random attn-only 4L8H d256 v1000, 20x24, KL",
    "c": "random GPT-2-small shape, 50x15, KL",
}


def random_task(name: str, cfg: dict, batch: int, pos: int, dtype: torch.dtype, device: str) -> Task:
    torch.manual_seed(0)
    model = backend.build_model(cfg, None, device, dtype)
    with torch.no_grad():  # larger than init scale, so that edges matter
        for p in model.parameters():
            p.mul_(3.0)
    g = torch.Generator().manual_seed(1)
    clean, corrupted = (torch.randint(0, cfg["d_vocab"], (batch, pos), generator=g).to(device) for _ in range(2))
    return Task(name, "random", model, clean, corrupted, {"kl": functools.partial(kl_divergence, positions=(-1,))}, "kl")


def load(case: str, dtype: torch.dtype, device: str) -> tuple[Task, float]:
    if case == "a":
        return tasks.load_task("tracr-reverse", None, device, dtype), 0.01
    if case == "b":
        cfg = {"n_layers": 4, "n_heads": 8, "d_model": 256, "d_head": 32, "d_vocab": 1000, "n_ctx": 64, "attn_only": True, "act_fn": "relu", "normalization_type": None}
        return random_task("attn4x8", cfg, 20, 24, dtype, device), 1e-3
    cfg = {"n_layers": 12, "n_heads": 12, "d_model": 768, "d_head": 64, "d_mlp": 3072, "d_vocab": 50257, "n_ctx": 1024, "act_fn": "gelu_new", "normalization_type": "LN"}
    return random_task("gpt2-shape", cfg, 50, 15, dtype, device), 1e-3


def maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(task: Task, threshold: float, engine: str, n_edges: int | None, dtype: str, device: str) -> dict:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss0 = maxrss_mb()
    t0 = time.perf_counter()
    exp = prepare(task, Settings(threshold=threshold, engine=engine, dtype=dtype, device=device))
    setup = time.perf_counter() - t0
    start, decisions = time.perf_counter(), []
    for ev in exp.run.events():
        if isinstance(ev, RunStarted):  # the initial (clean) evaluation is setup, not an edge
            start = time.perf_counter()
        if isinstance(ev, (EdgeTested, EdgeForced)):
            decisions.append((ev.edge.key, getattr(ev, "removed", True), ev.delta))
            if n_edges is not None and len(decisions) >= n_edges:
                break
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    secs = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else maxrss_mb() - rss0
    eng = exp.run.engine
    extra = f" forwards {eng.forwards} rebases {eng.rebases} width {eng.width}" if engine == "fast" and eng.fallback is None else ""
    return {"engine": engine, "edges": len(decisions), "total": exp.run.total, "secs": secs, "setup": setup, "rate": len(decisions) / secs if secs else math.inf, "peak_mb": peak, "decisions": decisions, "extra": extra}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--only", default="a,b,c", help="comma-separated cases: a, b, c")
    ap.add_argument("--edges", type=int, default=20, help="edges the plain engine tests in (b) and (c)")
    ap.add_argument("--fast-edges", type=int, default=None, help="edges the fast engine tests in (b) and (c) (default 10x --edges; (b): the whole run)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dtype = backend.parse_dtype(args.dtype)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, {args.dtype}")
    for case in args.only.split(","):
        task, tau = load(case.strip(), dtype, args.device)
        plain_n = None if case == "a" else args.edges
        fast_n = None if case in ("a", "b") and args.fast_edges is None else (args.fast_edges or 10 * args.edges)
        fast = measure(task, tau, "fast", fast_n, args.dtype, args.device)  # fast first: its RSS peak is not hidden by plain's
        plain = measure(task, tau, "plain", plain_n, args.dtype, args.device)
        n = min(len(plain["decisions"]), len(fast["decisions"]))
        agree = sum(p[:2] == f[:2] for p, f in zip(plain["decisions"][:n], fast["decisions"][:n]))
        print(f"({case}) {CASES[case]}, tau {tau}")
        for r in (plain, fast):
            print(f"    {r['engine']:5}: {r['edges']:5} of {r['total']} edges in {r['secs']:8.2f} s = {r['rate']:9.2f} edges/s; setup {r['setup']:.2f} s; peak memory +{r['peak_mb']:.0f} MiB{r['extra']}")
        print(f"    fast / plain: {fast['rate'] / plain['rate']:.1f}x; decisions agree on {agree} of the {n} edges both tested")


if __name__ == "__main__":
    main()
