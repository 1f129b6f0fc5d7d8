"""ETA accuracy: the per-layer cost model (runs/progress.py) against the real remaining time of a run.

    .venv/bin/python benchmarks/eta.py [--fixture gpt2-narrow] [--threshold 0.05] [--at 0.1,0.25,0.5]
                                       [--journal FILE]   # replay a finished run's journal instead

Runs `acdc-tui run` on the fixture to completion (a child process, its own journal), then replays the
journal's decision events, with their recorded times as the clock, through the same `Progress` the
headless progress line and the run's status snapshot use: at each fraction of the run's time in --at,
the ETA it would have shown against the time the run really took from there. The old ETA (the
decision rate so far, every edge alike) is shown beside it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fixture_dir, machine_header, run_cli, task_args, thread_env  # noqa: E402


def replay(journal: Path, at: list[float]) -> list[dict]:
    from acdc_tui.core.events import EdgeForced, EdgesPrefiltered, EdgeTested, NodeSkipped, RunStarted
    from acdc_tui.runs.journal.codec import EventDecoder
    from acdc_tui.runs.journal.reader import JournalReader
    from acdc_tui.runs.journal.view import graph_of
    from acdc_tui.runs.progress import LayerCosts, Progress

    reader = JournalReader(journal)
    graph = graph_of(reader.meta)
    decoder = EventDecoder(graph)
    rows = [(row.t, decoder.event(row.kind, row.data)) for row in reader.events(run=1) if not row.superseded]
    reader.close()
    decisions = (EdgeTested, EdgeForced, NodeSkipped, EdgesPrefiltered)
    start = next(t for t, ev in rows if isinstance(ev, RunStarted))
    end = max(t for t, ev in rows if isinstance(ev, decisions))
    now = [start]
    progress = Progress(len(graph.tested_edges), clock=lambda: now[0], costs=LayerCosts.of_graph(graph))
    plain = Progress(len(graph.tested_edges), clock=lambda: now[0])
    out, targets = [], sorted(at)
    for t, ev in rows:
        if not isinstance(ev, decisions):
            continue
        now[0] = t
        progress.on_event(ev)
        plain.on_event(ev)
        while targets and t - start >= targets[0] * (end - start):
            real = end - t
            eta, old = progress.eta, plain.eta
            out.append({"at": targets.pop(0), "elapsed": t - start, "real": real, "eta": eta, "old": old,
                        "error": None if eta is None or real <= 0 else eta / real - 1,
                        "old_error": None if old is None or real <= 0 else old / real - 1, "done": ev.done, "total": ev.total})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixture", default="gpt2-narrow", help="a fixture (benchmarks/fixtures.py) or a builtin task")
    ap.add_argument("--threshold", type=float, default=0.05)
    ap.add_argument("--at", default="0.1,0.25,0.5", help="fractions of the run's time at which to compare")
    ap.add_argument("--journal", default=None, help="replay this finished run's journal instead of running")
    ap.add_argument("--keep-journal", default=None, metavar="FILE", help="copy the run's journal here (to replay it with --journal)")
    ap.add_argument("--dir", default=None, help="where fixtures are written (default: a temporary folder)")
    args = ap.parse_args()
    at = [float(x) for x in args.at.split(",")]
    print(machine_header("benchmarks/eta.py: the per-layer ETA against the real remaining time", f"{args.fixture}, τ {args.threshold}"))
    if args.journal:
        journal, cleanup = Path(args.journal), None
    else:
        root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="acdc-eta-"))
        result = run_cli([*task_args(args.fixture, root), "--threshold", str(args.threshold)], thread_env(), None, None)
        if result.rc != 0:
            raise SystemExit(f"the run failed ({result.rc}):\n{result.stderr[-2000:]}")
        print(f"run: {result.tested} edges tested in {result.run_s:.1f} s (kept {result.kept}/{result.total})")
        journal, cleanup = result.journal, result.journal.parent
        if args.keep_journal:
            shutil.copy(journal, args.keep_journal)
    for row in replay(journal, at):
        old = f"{row['old']:.1f} s ({row['old_error']:+.0%})" if row["old"] is not None else "-"
        new = f"{row['eta']:.1f} s ({row['error']:+.0%})" if row["eta"] is not None else "-"
        print(f"after {row['at']:.0%} of the run ({row['elapsed']:.1f} s, {row['done']}/{row['total']} edges decided): "
              f"real remaining {row['real']:.1f} s; ETA per-layer model {new}; old decision-rate ETA {old}", flush=True)
    if cleanup is not None:
        shutil.rmtree(cleanup, ignore_errors=True)


if __name__ == "__main__":
    main()
