"""What the run journal costs: the same ACDC run with and without it, in one process, alternated.

    .venv/bin/python benchmarks/journal_overhead.py [--fixture medium] [--threshold 0.05] [--repeats 3] [--engine fast]

Without: `AcdcRun.events()` in a loop (no journal, no sinks). With: the run process's loop
(`RunLoop`) writing a new journal (SQLite, WAL, synchronous=FULL, commits batched to one per 0.5 s
when decisions come faster). Each repeat builds a fresh run over the same engine, so both sides
see the same engine state; the order alternates to cancel drift. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.fixtures import write_fixture  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", default="medium")
    parser.add_argument("--threshold", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--engine", default="fast")
    args = parser.parse_args()

    import acdc_tui  # noqa: F401  (its thread settings, before torch starts)
    import torch

    import tasks
    from acdc_tui.runs.experiment import Settings, new_run, prepare
    from acdc_tui.runs.identity import Recipe, journal_meta
    from acdc_tui.runs.journal.writer import JournalWriter
    from acdc_tui.runs.outputs import Outputs
    from acdc_tui.runs.process import RunLoop

    work = Path(tempfile.mkdtemp(prefix="journal-bench-"))
    task_dir = write_fixture(args.fixture, work / args.fixture)
    task = tasks.load_task(None, str(task_dir), "cpu", torch.float32)
    exp = prepare(task, Settings(threshold=args.threshold, engine=args.engine))
    recipe = Recipe.of(None, str(task_dir), None, "cpu", "float32")

    def without() -> tuple[float, int]:
        run = new_run(exp, args.threshold)
        start = time.perf_counter()
        n = sum(1 for _ in run.events())
        return time.perf_counter() - start, n

    def with_journal(i: int) -> tuple[float, int]:
        new_run(exp, args.threshold)  # a fresh AcdcRun on exp (the loop takes exp.run)
        writer = JournalWriter.create(work / f"run{i}.journal", journal_meta(exp, recipe))
        writer.start_session(args.engine)
        writer.add_run(1, args.threshold)
        loop = RunLoop(exp, writer, outputs=Outputs())
        start = time.perf_counter()
        loop.serve()
        writer.end_session("finished")
        writer.close()
        return time.perf_counter() - start, len(loop.events)

    without()  # warm-up: caches, allocator
    plain, journaled = [], []
    for i in range(args.repeats):
        for side in ((0, 1) if i % 2 == 0 else (1, 0)):
            if side == 0:
                plain.append(without())
            else:
                journaled.append(with_journal(i))
    t0, t1 = statistics.median(t for t, _ in plain), statistics.median(t for t, _ in journaled)
    events = journaled[0][1]
    print(f"fixture {args.fixture}, engine {args.engine}, τ {args.threshold}, torch threads {torch.get_num_threads()}, {events} events per run")
    print(f"without journal: {t0:.3f} s   with journal: {t1:.3f} s   overhead {100 * (t1 / t0 - 1):+.1f}% ({1e6 * (t1 - t0) / events:.0f} µs per event)")
    print("runs:", ", ".join(f"{t:.3f}" for t, _ in plain), "|", ", ".join(f"{t:.3f}" for t, _ in journaled))


if __name__ == "__main__":
    main()
