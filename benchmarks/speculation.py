"""Speculative batching, measured: the fast engine with its adaptive width, with width 1 and with its
default, per model shape, quiet and with one competing busy process.

    .venv/bin/python benchmarks/speculation.py [--tasks tracr-reverse:0.01,medium:0.05,mlp3:0.05,gpt2-small:0.05]
                                               [--edges gpt2-small:300] [--widths default,adaptive,1]
                                               [--loads quiet,loaded] [--repeats 1] [--device cpu] [--dir DIR]

Widths: `adaptive` is the engine's adaptive speculation up to its maximum width (16 variants per forward,
fewer while predictions fail); `1` evaluates one state per forward; `default` is what the engine picks
by itself (on CPU: the full width only for small models, see acdc_tui/engines/fast/engine.py). Each
measurement runs in its own process (acdc-tui's thread settings, float32): setup, then the run's
first `--edges` tested edges for that task (default: the whole run), timed from the first tested
edge. The table gives seconds, forwards, and each width's time over width 1's; the best width of
each row is starred.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import busy_competitor, fixture_dir, machine_header, thread_env  # noqa: E402

CHILD = """
import json, sys, time
spec = json.loads(sys.argv[1])
import acdc_tui  # first, as every entry point: its thread settings precede torch
import torch
import tasks
from acdc_tui.core.events import EdgeForced, EdgeTested
from acdc_tui.engines import fast
from acdc_tui.runs.experiment import Settings, prepare
task = tasks.load_task(spec["task"], spec["task_dir"], spec["device"], torch.float32)
exp = prepare(task, Settings(threshold=spec["threshold"], device=spec["device"]))
engine = exp.run.engine
if spec["width"] == "adaptive":
    engine.width = fast.MAX_WIDTH
elif spec["width"] != "default":
    engine.width = int(spec["width"])
engine.forwards, tested, start = 0, 0, None
for event in exp.run.events():
    if isinstance(event, (EdgeTested, EdgeForced)):
        start = start or time.perf_counter()
        tested += 1
        if spec["edges"] and tested >= spec["edges"]:
            break
if spec["device"].startswith("cuda"):
    torch.cuda.synchronize()
print(json.dumps({"secs": time.perf_counter() - start, "tested": tested, "total": exp.run.total, "forwards": engine.forwards,
                  "width": engine.width, "threads": torch.get_num_threads()}))
"""


def measure(spec: dict, repeats: int) -> dict:
    results = []
    for _ in range(repeats):
        done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True, env=thread_env())
        if done.returncode != 0:
            raise SystemExit(f"measurement {spec} failed:\n{done.stderr[-2000:]}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    best = dict(results[0])
    best["secs"] = statistics.median(r["secs"] for r in results)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="tracr-reverse:0.01,medium:0.05,mlp3:0.05,gpt2-small:0.05", help="TASK:TAU,... (fixtures or builtin tasks)")
    ap.add_argument("--edges", default="gpt2-small:300", help="TASK:N,...: only the first N tested edges of that task")
    ap.add_argument("--widths", default="default,adaptive,1")
    ap.add_argument("--loads", default="quiet,loaded", help="quiet, loaded (one `yes > /dev/null`)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dir", default=None, help="where fixtures are written (default: a temporary folder)")
    args = ap.parse_args()
    import tasks

    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="acdc-speculation-"))
    edges = {k: int(v) for k, v in (item.split(":") for item in args.edges.split(",") if item)}
    widths = args.widths.split(",")
    print(machine_header("benchmarks/speculation.py: speculative batching width per model shape", f"device {args.device}, float32, fast engine; seconds from the first tested edge"))
    head = "".join(f" {w + ' s':>12} {'fwd':>6}" for w in widths)
    print(f"{'task':14} {'τ':>6} {'load':7} {'edges':>12} {'threads':>7}{head}  {'vs width 1':>24}")
    for item in args.tasks.split(","):
        task, tau = item.split(":")
        builtin = task in tasks.TASK_NAMES
        spec = {"task": task if builtin else None, "task_dir": None if builtin else str(fixture_dir(task, root)),
                "threshold": float(tau), "device": args.device, "edges": edges.get(task)}
        for load in args.loads.split(","):
            if load == "loaded":
                with busy_competitor():
                    rows = {w: measure({**spec, "width": w}, args.repeats) for w in widths}
            else:
                rows = {w: measure({**spec, "width": w}, args.repeats) for w in widths}
            fastest = min(rows, key=lambda w: rows[w]["secs"])
            cells = "".join(f" {rows[w]['secs']:>11.2f}{'*' if w == fastest else ' '} {rows[w]['forwards']:>6}" for w in widths)
            one = rows.get("1")
            ratios = " ".join(f"{w}:{rows[w]['secs'] / one['secs']:.2f}" for w in widths if one and w != "1")
            any_row = next(iter(rows.values()))
            label = f"{any_row['tested']}/{any_row['total']}"
            note = f"  (default width {rows['default']['width']})" if "default" in rows else ""
            print(f"{task:14} {tau:>6} {load:7} {label:>12} {any_row['threads']:>7}{cells}  {ratios:>24}{note}", flush=True)


if __name__ == "__main__":
    main()
