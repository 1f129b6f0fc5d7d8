"""Quiet against loaded: whole `acdc-tui run`s with and without one competing busy process.

    .venv/bin/python benchmarks/contention.py [--tasks medium:0.05,mlp3:0.05] [--settings acdc-tui,torch]
                                              [--repeats 1] [--timeout 300] [--dir DIR] [--competitors 1]

For each task (a fixture of benchmarks/fixtures.py or a builtin task, with its τ) and each thread
setting, it times the same run quiet and with `yes > /dev/null` running (one busy process per
`--competitors`), all started from this one process, and prints the ratio loaded / quiet. The run's
time is its own (the summary line: first to last tested edge, fast engine, float32); the whole command's
wall time is shown too. Settings (the environment of the child process):

    acdc-tui    nothing set: acdc-tui's own choice (passive waiting, threads for the work size)
    one         ACDC_TUI_THREADS=1
    all         ACDC_TUI_THREADS=<usable cores> (passive waiting, every core)
    torch       ACDC_TUI_THREADS=torch: torch's defaults (spinning OpenMP threads, every core), as
                before acdc-tui chose; a run over --timeout is reported as "> T"

Issue 12's target: acdc-tui's setting at most 2x its quiet time with one competitor. Run it on an
otherwise quiet machine; the header records the load average at the start.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import busy_competitor, fmt, machine_header, run_cli, task_args, thread_env  # noqa: E402

from acdc_tui.threads import usable_cores  # noqa: E402


def settings_env(name: str) -> dict[str, str]:
    table = {"acdc-tui": {}, "one": {"ACDC_TUI_THREADS": "1"}, "all": {"ACDC_TUI_THREADS": str(usable_cores())}, "torch": {"ACDC_TUI_THREADS": "torch"}}
    if name not in table:
        raise SystemExit(f"unknown setting {name!r}: choose from {', '.join(table)}")
    return thread_env(**table[name])


def timed(args_run: list[str], env: dict[str, str], repeats: int, timeout: float, workdir: Path) -> tuple[float | None, float | None, int | None, str]:
    """Median run time, median wall time, threads, and a note (timeout or failure)."""
    runs, walls, threads = [], [], None
    for _ in range(repeats):
        try:
            result = run_cli(args_run, env, workdir, timeout)
        except subprocess.TimeoutExpired:
            return None, None, threads, f"> {timeout:.0f} s"
        shutil.rmtree(result.journal.parent, ignore_errors=True)
        if result.rc != 0 or result.run_s is None:
            return None, None, result.threads, f"failed ({result.rc}): {result.stderr.strip().splitlines()[-1:]}"
        runs.append(result.run_s)
        walls.append(result.wall_s)
        threads = result.threads
    return statistics.median(runs), statistics.median(walls), threads, ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="medium:0.05,mlp3:0.05", help="TASK:TAU,... (fixtures or builtin tasks)")
    ap.add_argument("--settings", default="acdc-tui,torch", help="comma-separated: acdc-tui, one, all, torch")
    ap.add_argument("--repeats", type=int, default=1, help="runs per cell (the median is shown)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds before a run is cut off")
    ap.add_argument("--competitors", type=int, default=1, help="busy processes when loaded")
    ap.add_argument("--dir", default=None, help="where fixtures are written (default: a temporary folder)")
    args = ap.parse_args()
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="acdc-contention-"))
    print(machine_header("benchmarks/contention.py: one run quiet and with busy competitors", f"{args.competitors} competitor(s) `yes > /dev/null`; fast engine, float32; times are the runs' own (first to last tested edge)"))
    print(f"{'task':14} {'τ':>6} {'setting':9} {'threads':>7} {'quiet s':>9} {'loaded s':>9} {'loaded/quiet':>12}  {'wall quiet':>10} {'wall loaded':>11}")
    for spec in args.tasks.split(","):
        task, tau = spec.split(":")
        run_args = [*task_args(task, root), "--threshold", tau]
        for setting in args.settings.split(","):
            env = settings_env(setting)
            quiet, wall_quiet, threads, note_quiet = timed(run_args, env, args.repeats, args.timeout, root)
            with busy_competitor(args.competitors):
                loaded, wall_loaded, threads_loaded, note_loaded = timed(run_args, env, args.repeats, args.timeout, root)
            ratio = f"{loaded / quiet:.2f}x" if quiet and loaded else "-"
            note = "  ".join(n for n in (note_quiet and f"quiet {note_quiet}", note_loaded and f"loaded {note_loaded}") if n)
            print(f"{task:14} {tau:>6} {setting:9} {fmt(threads or threads_loaded, 'd'):>7} {fmt(quiet):>9} {fmt(loaded):>9} {ratio:>12}  {fmt(wall_quiet):>10} {fmt(wall_loaded):>11}  {note}", flush=True)


if __name__ == "__main__":
    main()
