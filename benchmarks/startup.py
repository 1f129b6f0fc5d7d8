"""Where the seconds before the first tested edge go.

    .venv/bin/python benchmarks/startup.py [--task medium] [--threshold 0.05] [--repeats 3] [--dir DIR]

Two measurements, each in fresh child processes, median of --repeats:

1. the real command, `acdc-tui run --task-dir FIXTURE ...` (as the console script runs it): seconds
   from starting the process to the first tested edge (its time in the run's journal);
2. the same steps by hand, timed one by one: the interpreter, `import acdc_tui` (thread settings), torch,
   the CLI and task modules, loading the task (model build, weights, data), the graph, engine setup
   (ablated and clean activations, the fast engine's self-check and clean pass) and the first edge.

Issue 12's target: the first edge of the medium fixture within 4 s on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_header, run_cli, task_args, thread_env  # noqa: E402

STAGES_CHILD = """
import time
marks = [("interpreter", time.time())]
import sys, json
import acdc_tui
marks.append(("import acdc_tui (thread settings)", time.time()))
import torch
marks.append(("import torch", time.time()))
import tasks
from acdc_tui.cli import main as cli_main
from acdc_tui.cli.commands import run as run_command
from acdc_tui.core.events import EdgeTested
from acdc_tui.runs.experiment import Settings, prepare
from acdc_tui.runs.journal.writer import JournalWriter
marks.append(("import the CLI, tasks, engines, journal", time.time()))
spec = json.loads(sys.argv[1])
task = tasks.load_task(spec["task"], spec["task_dir"], "cpu", torch.float32)
marks.append(("load the task (model, weights, data)", time.time()))
from acdc_tui.core.graph import GraphSpec, build_graph
build_graph(GraphSpec.from_config(task.model.cfg, use_pos_embed=task.use_pos_embed))
marks.append(("build the graph (again, alone)", time.time()))
exp = prepare(task, Settings(threshold=spec["threshold"]))
marks.append(("engine setup (graph, metric, ablated and clean passes)", time.time()))
for event in exp.run.events():
    if isinstance(event, EdgeTested):
        break
marks.append(("initial evaluation and the first tested edge", time.time()))
print(json.dumps(marks))
"""


def stages(task: str, task_dir: str | None, threshold: float) -> list[tuple[str, float]]:
    start = time.time()
    spec = {"task": task if task_dir is None else None, "task_dir": task_dir, "threshold": threshold}
    done = subprocess.run([sys.executable, "-c", STAGES_CHILD, json.dumps(spec)], capture_output=True, text=True, env=thread_env())
    if done.returncode != 0:
        raise SystemExit(f"the stage measurement failed:\n{done.stderr[-2000:]}")
    marks = json.loads(done.stdout.strip().splitlines()[-1])
    times, previous = [], start
    for name, moment in marks:
        times.append((name, moment - previous))
        previous = moment
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="medium", help="a fixture of benchmarks/fixtures.py or a builtin task")
    ap.add_argument("--threshold", type=float, default=0.05)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where fixtures are written (default: a temporary folder)")
    args = ap.parse_args()
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="acdc-startup-"))
    where = task_args(args.task, root)
    task_dir = where[1] if where[0] == "--task-dir" else None
    print(machine_header("benchmarks/startup.py: seconds before the first tested edge", f"task {args.task}, τ {args.threshold}, fast engine, float32, median of {args.repeats}"))
    firsts = []
    for _ in range(args.repeats):
        result = run_cli([*where, "--threshold", str(args.threshold)], thread_env(), None, None)
        shutil.rmtree(result.journal.parent, ignore_errors=True)
        if result.first_edge_s is None:
            raise SystemExit(f"the run failed ({result.rc}):\n{result.stderr[-2000:]}")
        firsts.append(result.first_edge_s)
    print(f"acdc-tui run: first tested edge {statistics.median(firsts):.2f} s after the command started (runs: {', '.join(f'{t:.2f}' for t in firsts)})")
    samples = [stages(args.task, task_dir, args.threshold) for _ in range(args.repeats)]
    total = 0.0
    print("by stage (the same steps in one process):")
    for i, (name, _) in enumerate(samples[0]):
        seconds = statistics.median(sample[i][1] for sample in samples)
        total += seconds
        print(f"    {seconds:6.2f} s  {name}")
    print(f"    {total:6.2f} s  in all (sum of the medians)")


if __name__ == "__main__":
    main()
