"""The steady heap against glibc's default: the same runs, alternating, each in a child process.

    .venv/bin/python benchmarks/allocator.py [--fixtures mlp3,medium,gpt2-narrow] [--repeats 3] [--threshold 0.05]

Each repeat runs every fixture once with `ACDC_TUI_MALLOC=glibc` (glibc's moving thresholds, as before
the steady heap) and once with acdc-tui's choice (the steady heap for activations under 1 MiB), and
prints the run's time (first to last tested edge), edges kept and peak resident memory. The ratio is of
the medians. Run it with nothing else on the machine.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine_header, run_cli, task_args, thread_env  # noqa: E402

MODES = {"glibc's default": {"ACDC_TUI_MALLOC": "glibc"}, "acdc-tui (steady heap when small)": {}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", default="mlp3,medium,gpt2-narrow")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threshold", type=float, default=0.05)
    ap.add_argument("--dir", default=None, help="where fixtures are written (default: a temporary folder)")
    args = ap.parse_args()
    print(machine_header("benchmarks/allocator.py: the steady heap against glibc's default", f"{args.repeats} repeats"))
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="acdc-alloc-"))
    for name in filter(None, args.fixtures.split(",")):
        options = [*task_args(name, root), "--threshold", str(args.threshold)]
        times: dict[str, list[float]] = {mode: [] for mode in MODES}
        for _ in range(args.repeats):
            for mode, settings in MODES.items():
                result = run_cli(options, thread_env(**settings))
                shutil.rmtree(result.journal.parent, ignore_errors=True)
                if result.rc != 0 or result.run_s is None:
                    raise SystemExit(f"the run of {name} failed ({result.rc}):\n{result.stderr[-2000:]}")
                times[mode].append(result.run_s)
                print(f"{name} {mode}: {result.run_s:.2f} s, kept {result.kept}/{result.total}, peak RSS {result.peak_rss_mb:.0f} MiB, {result.threads} thread(s)", flush=True)
        before, now = (statistics.median(times[mode]) for mode in MODES)
        print(f"{name}: median {before:.2f} s -> {now:.2f} s = {before / now:.2f}x faster", flush=True)


if __name__ == "__main__":
    main()
