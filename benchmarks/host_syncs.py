"""Host-device synchronisations of the fast engine per forward pass, on a GPU.

    .venv/bin/python benchmarks/host_syncs.py --task-dir DIR [--threshold 0.05] [--skip 20] [--edges 200] [--device cuda]

After `--skip` tested edges (setup and the first forwards), it counts, over the next `--edges` tested
edges, every call torch reports as synchronising (`torch.cuda.set_sync_debug_mode("warn")`), grouped
by where in acdc-tui it happened. One per forward is unavoidable: the metric's value decides the
next step. On CPU there is nothing to synchronise, and it says so.
"""

from __future__ import annotations

import argparse
import collections
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import acdc_tui  # noqa: E402,F401  (thread settings before torch)
import torch  # noqa: E402

import tasks  # noqa: E402
from acdc_tui.core.events import EdgeTested  # noqa: E402
from acdc_tui.runs.experiment import Settings, prepare  # noqa: E402


def tested_edges(events, count: int) -> int:
    done = 0
    for event in events:
        if isinstance(event, EdgeTested):
            done += 1
            if done >= count:
                break
    return done


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task-dir", required=True)
    ap.add_argument("--threshold", type=float, default=0.05)
    ap.add_argument("--skip", type=int, default=20)
    ap.add_argument("--edges", type=int, default=200)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    if not args.device.startswith("cuda"):
        print(f"host_syncs: device {args.device}: there is no host-device synchronisation to count")
        return
    task = tasks.load_task(None, args.task_dir, args.device, torch.float32)
    exp = prepare(task, Settings(threshold=args.threshold, device=args.device))
    events = exp.run.events()
    tested_edges(events, args.skip)
    engine = exp.run.engine
    forwards_before, places = engine.forwards, collections.Counter()
    torch.cuda.set_sync_debug_mode("warn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        done = tested_edges(events, args.edges)
    torch.cuda.set_sync_debug_mode(0)
    for warning in caught:
        if "synchroniz" not in str(warning.message).lower():
            continue
        places[f"{Path(warning.filename).name}:{warning.lineno}"] += 1
    forwards = engine.forwards - forwards_before
    total = sum(places.values())
    print(f"host_syncs: {total} synchronising calls in {forwards} forwards ({done} tested edges): {total / max(forwards, 1):.2f} per forward")
    for place, count in places.most_common(10):
        print(f"    {count:6}  {place}")


if __name__ == "__main__":
    main()
