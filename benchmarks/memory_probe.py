"""Where a run's memory goes: resident memory and glibc's heap, every tenth of the tested edges, in-process.

    .venv/bin/python benchmarks/memory_probe.py LAYERS D_MODEL VOCAB BATCH POS EDGES [--no-trim] [--dir DIR]

A GPT-2-shaped fixture (12 heads, d_mlp 4 x d_model, random weights as benchmarks/fixtures.py makes
them) of the given size, the fast engine, τ 0.05, CPU; after setup and then every tenth of EDGES tested
edges it prints VmRSS and VmHWM (MiB; the peak is reset after setup) and glibc's mallinfo2: heap size,
bytes used (live blocks) and free (holes). Used bytes that swing with the evaluations are objects kept
alive; free bytes that grow are fragmentation. `2 768 50257 50 15 400` is GPT-2 small's widths and
data on 2 layers (docs/cost.md). --no-trim turns off the periodic malloc_trim (acdc_tui/allocator.py).
"""

from __future__ import annotations

import argparse
import ctypes
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()]


def _status(key: str) -> float:
    return int(re.search(rf"{key}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024


def _heap() -> str:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        m = libc.mallinfo2()
    except (OSError, AttributeError):
        return "heap: no mallinfo2"
    return f"heap {m.arena / 2**20:.0f} used {m.uordblks / 2**20:.0f} free {m.fordblks / 2**20:.0f} mmapped {m.hblkhd / 2**20:.0f} MiB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("layers", "d_model", "vocab", "batch", "pos", "edges"):
        ap.add_argument(name, type=int)
    ap.add_argument("--no-trim", action="store_true")
    ap.add_argument("--dir", default="/tmp")
    args = ap.parse_args()
    import fixtures
    import torch

    import tasks
    from acdc_tui.core.events import EdgeTested
    from acdc_tui.runs.experiment import Settings, prepare

    if args.no_trim:
        import acdc_tui.allocator as allocator

        allocator.trim_now_and_then = lambda *a, **k: False
    name = f"probe-{args.layers}-{args.d_model}-{args.vocab}-{args.batch}-{args.pos}"
    cfg = {"n_layers": args.layers, "n_heads": 12, "d_model": args.d_model, "d_head": args.d_model // 12, "d_mlp": 4 * args.d_model,
           "d_vocab": args.vocab, "n_ctx": max(64, args.pos), "act_fn": "gelu_new", "normalization_type": "LN"}
    fixtures.FIXTURES[name] = (cfg, args.batch, args.pos)
    directory = Path(args.dir) / name
    if not (directory / "tokens.pt").exists():
        fixtures.write_fixture(name, directory)
    task = tasks.load_task(None, str(directory), "cpu", torch.float32)
    exp = prepare(task, Settings(threshold=0.05))
    base = _status("VmRSS")
    print(f"after setup: RSS {base:.0f} MiB, peak during setup {_status('VmHWM'):.0f} MiB; {_heap()}", flush=True)
    Path("/proc/self/clear_refs").write_text("5")
    start, n = time.time(), 0
    for ev in exp.run.events():
        if isinstance(ev, EdgeTested):
            n += 1
            if n % max(1, args.edges // 10) == 0:
                print(f"{n} edges, {time.time() - start:.1f} s: RSS {_status('VmRSS'):.0f} peak {_status('VmHWM'):.0f} MiB; {_heap()}", flush=True)
            if n >= args.edges:
                break
    print(f"peak since setup {_status('VmHWM'):.0f} MiB = {_status('VmHWM') / base:.2f} x the resident memory after setup")


if __name__ == "__main__":
    main()
