"""`acdc-tui plan` against the real run: predicted against measured time and peak memory.

    .venv/bin/python benchmarks/plan_check.py [--fixtures mlp3,medium,gpt2-narrow] [--threshold 0.05] [--device cpu]
    .venv/bin/python benchmarks/plan_check.py --plan PLAN.json --run-log RUN.log   # gpu.sh: compare what it measured

Each fixture: `acdc-tui plan --json` and then `acdc-tui run` to completion, each in a child process of its
own (the run's peak memory is its own). Predicted time: seconds_per_tested_edge (the mean over the
graph's edges) x the edges the run really tested, and the plan's typical range; predicted memory:
memory_peak_bytes against the run's peak resident memory (CPU) or torch.cuda.max_memory_allocated
(CUDA). The issue's bounds: time within 2x, memory within ±35%.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_header, run_cli, task_args, thread_env  # noqa: E402

RUN_LINE = re.compile(r"(\d+) edges tested \(kept \d+/\d+\) in ([0-9.]+) s")
GPU_PEAK = re.compile(r"GPU memory after setup \S+ MiB, peak ([0-9.]+) MiB")
RSS_PEAK = re.compile(r"peak RSS ([0-9.]+) MiB")


def plan_json(args: list[str]) -> dict:
    done = subprocess.run([sys.executable, "-m", "acdc_tui", "plan", *args, "--json"], capture_output=True, text=True, env=thread_env())
    if not done.stdout.strip():
        raise SystemExit(f"plan failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def compare(name: str, plan: dict, tested: int, run_s: float, peak_mb: float | None, where: str) -> str:
    predicted = plan["seconds_per_tested_edge"] * tested
    lo, hi = plan["seconds_typical"]
    t_ratio = predicted / run_s
    memory = ""
    if peak_mb:
        m_ratio = plan["memory_peak_bytes"] / 2**20 / peak_mb
        memory = (f"; memory: predicted peak {plan['memory_peak_bytes'] / 2**20:.0f} MiB, measured {peak_mb:.0f} MiB ({where}) = {m_ratio:.2f}x "
                  f"({'within' if 0.65 <= m_ratio <= 1.35 else 'OUTSIDE'} ±35%)")
    return (f"{name}: {plan['edges_total']} edges ({plan['edges_tested']} tested by ACDC); time: {plan['seconds_per_tested_edge'] * 1000:.2f} ms/edge x {tested} tested "
            f"= {predicted:.1f} s predicted, {run_s:.1f} s measured = {t_ratio:.2f}x ({'within' if 0.5 <= t_ratio <= 2 else 'OUTSIDE'} 2x); "
            f"typical range {lo:.0f}-{hi:.0f} s{memory}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", default="mlp3,medium,gpt2-narrow")
    ap.add_argument("--threshold", type=float, default=0.05)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dir", default=None, help="where fixtures are written (default: a temporary folder)")
    ap.add_argument("--plan", default=None, help="a plan JSON already made (with --run-log: compare only)")
    ap.add_argument("--run-log", default=None, help="benchmarks/gpt2_scale.py's output for the same fixture and options")
    args = ap.parse_args()
    print(machine_header("benchmarks/plan_check.py: acdc-tui plan against the real run", f"device {args.device}"))
    if args.plan and args.run_log:
        plan = json.loads(Path(args.plan).read_text())
        text = Path(args.run_log).read_text()
        m = RUN_LINE.search(text)
        if m is None:
            raise SystemExit(f"no finished run in {args.run_log}")
        gpu, rss = GPU_PEAK.search(text), RSS_PEAK.search(text)
        peak, where = (float(gpu[1]), "GPU, max_memory_allocated") if gpu else ((float(rss[1]), "peak RSS") if rss else (None, ""))
        print(compare(Path(args.plan).stem, plan, int(m[1]), float(m[2]), peak, where))
        return
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="acdc-plan-"))
    for name in filter(None, args.fixtures.split(",")):
        where = task_args(name, root)
        options = [*where, "--threshold", str(args.threshold), "--device", args.device]
        plan = plan_json(options)
        result = run_cli(options, thread_env(), None, None)
        if result.rc != 0 or result.run_s is None:
            raise SystemExit(f"the run of {name} failed ({result.rc}):\n{result.stderr[-2000:]}")
        cuda = args.device.startswith("cuda")
        peak = result.gpu_peak_mb if cuda else result.peak_rss_mb
        print(compare(name, plan, result.tested, result.run_s, peak, "GPU, max_memory_allocated" if cuda else "peak RSS"), flush=True)


if __name__ == "__main__":
    main()
