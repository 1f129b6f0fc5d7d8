"""GPT-2 scale: engine setup memory against senders x batch x positions x d_model, and a full run to
completion (time, edges/s over the whole run, peak memory).

    .venv/bin/python benchmarks/gpt2_scale.py [--memory gpt2-narrow,gpt2-small] [--run gpt2-small]
                                              [--threshold 0.05] [--device cpu|cuda] [--dtype float32]
                                              [--dir DIR] [--timeout SECONDS] [--keep DIR]

Memory: each engine's setup in a process of its own, after the task is loaded (CPU: growth of the
peak resident set, reset with /proc/self/clear_refs; GPU: torch.cuda.max_memory_allocated growth).
S is the number of sender columns (inputs, every head's result, every MLP output) and the unit
S x B x P x D x bytes is one copy of every sender's output. Full run: `acdc-tui run` on the fixture,
the fast engine, in a child process; its own summary gives the edges tested and the run time, the
journal the time to the first tested edge.

Fixtures (benchmarks/fixtures.py): gpt2-small is GPT-2 small's shape (12L x 12H, d_model 768, d_mlp
3072, vocab 50257) with IOI-sized data, 50 x 15, KL; gpt2-narrow has the same graph with narrow widths.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fixture_dir, fmt, machine_header, run_cli, thread_env  # noqa: E402

SETUP_CHILD = """
import json, sys, time
spec = json.loads(sys.argv[1])
sys.path.insert(0, spec["benchmarks"])
import acdc_tui
import torch
import tasks
from common import peak_rss_mb, peak_rss_reset
from acdc_tui.runs.experiment import Settings, prepare
dtype = {"float32": torch.float32, "float64": torch.float64}[spec["dtype"]]
task = tasks.load_task(None, spec["task_dir"], spec["device"], dtype)
gpu = spec["device"].startswith("cuda")
if gpu:
    torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
else:
    base = peak_rss_reset()
start = time.perf_counter()
exp = prepare(task, Settings(threshold=0.05, engine=spec["engine"], device=spec["device"], dtype=spec["dtype"]))
if gpu:
    torch.cuda.synchronize()
secs = time.perf_counter() - start
peak = (torch.cuda.max_memory_allocated() - base) / 2**20 if gpu else peak_rss_mb() - base
engine = exp.run.engine
senders = getattr(engine, "S", None)
if senders is None:  # plain engine: count the same columns from the graph
    senders = len({e.sender for e in exp.graph.edges if e.type.name == "ADDITION"})
B, P = task.clean.shape
print(json.dumps({"secs": secs, "peak_mb": peak, "senders": senders, "batch": B, "pos": P, "d_model": task.model.cfg.d_model,
                  "bytes": torch.finfo(dtype).bits // 8, "fallback": getattr(engine, "fallback_reason", None)}))
"""


def setup_memory(task_dir: Path, engine: str, device: str, dtype: str) -> dict:
    spec = {"task_dir": str(task_dir), "engine": engine, "device": device, "dtype": dtype, "benchmarks": str(Path(__file__).resolve().parent)}
    done = subprocess.run([sys.executable, "-c", SETUP_CHILD, json.dumps(spec)], capture_output=True, text=True, env=thread_env())
    if done.returncode != 0:
        raise SystemExit(f"setup of the {engine} engine on {task_dir} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def report_memory(name: str, task_dir: Path, device: str, dtype: str) -> None:
    rows = {engine: setup_memory(task_dir, engine, device, dtype) for engine in ("fast", "plain")}
    fast = rows["fast"]
    unit = fast["senders"] * fast["batch"] * fast["pos"] * fast["d_model"] * fast["bytes"] / 2**20
    shape = f"S {fast['senders']} x B {fast['batch']} x P {fast['pos']} x D {fast['d_model']} x {fast['bytes']} B = {unit:.1f} MiB"
    print(f"{name}: {shape}")
    for engine, row in rows.items():
        note = f"  (fell back to plain: {row['fallback']})" if row.get("fallback") else ""
        print(f"    {engine:5} setup {row['secs']:7.2f} s, peak +{row['peak_mb']:8.1f} MiB = {row['peak_mb'] / unit:5.2f} x S·B·P·D{note}")
    print(f"    fast / plain setup memory: {fast['peak_mb'] / rows['plain']['peak_mb']:.2f}x", flush=True)


def report_run(name: str, task_dir: Path, threshold: float, device: str, dtype: str, timeout: float | None, keep: Path | None) -> None:
    result = run_cli(["--task-dir", str(task_dir), "--threshold", str(threshold), "--device", device, "--dtype", dtype], thread_env(), None, timeout)
    if result.rc != 0 or result.run_s is None:
        raise SystemExit(f"the full run failed ({result.rc}):\n{result.stderr[-2000:]}")
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(result.out, keep / f"{name}-{device.split(':')[0]}-{dtype}.json")
    shutil.rmtree(result.journal.parent, ignore_errors=True)
    peak = (f"GPU memory after setup {fmt(result.gpu_setup_mb, '.0f')} MiB, peak {fmt(result.gpu_peak_mb, '.0f')} MiB"
            f" = {fmt(result.gpu_peak_mb / result.gpu_setup_mb if result.gpu_setup_mb else None)} x, " if result.gpu_peak_mb else "")
    ratio = result.peak_rss_mb / result.setup_rss_mb if result.peak_rss_mb and result.setup_rss_mb else None
    print(f"{name}, full run, fast engine, τ {threshold}, {device} {dtype}, {result.threads} threads: {result.tested} edges tested "
          f"(kept {result.kept}/{result.total}) in {result.run_s:.1f} s = {result.rate:.1f} edges/s over the whole run; "
          f"command {result.wall_s:.1f} s, first edge after {fmt(result.first_edge_s, '.1f')} s; {peak}RSS after setup {fmt(result.setup_rss_mb, '.0f')} MiB, "
          f"peak RSS {fmt(result.peak_rss_mb, '.0f')} MiB = {fmt(ratio)} x after setup (bound: 1.5 x)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--memory", default="gpt2-narrow,gpt2-small", help="fixtures whose setup memory to measure ('' for none)")
    ap.add_argument("--run", default="gpt2-small", help="fixtures to run to completion ('' for none)")
    ap.add_argument("--threshold", type=float, default=0.05)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--timeout", type=float, default=None, help="seconds before a full run is cut off")
    ap.add_argument("--dir", default=None, help="where fixtures are written (default: a temporary folder)")
    ap.add_argument("--keep", default=None, help="copy each full run's circuit JSON here, as FIXTURE-DEVICE-DTYPE.json")
    args = ap.parse_args()
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="acdc-gpt2-"))
    print(machine_header("benchmarks/gpt2_scale.py: GPT-2-scale setup memory and full runs", f"device {args.device}, {args.dtype}"))
    for name in filter(None, args.memory.split(",")):
        report_memory(name, fixture_dir(name, root), args.device, args.dtype)
    for name in filter(None, args.run.split(",")):
        report_run(name, fixture_dir(name, root), args.threshold, args.device, args.dtype, args.timeout, args.keep and Path(args.keep))


if __name__ == "__main__":
    main()
