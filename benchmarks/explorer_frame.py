"""How long the explorer takes to lay out and draw the Circuit tab for a big circuit.

    .venv/bin/python benchmarks/explorer_frame.py [--layers 4 --heads 8] [--size 160x50]

Builds a random attention-only model's full graph (every edge present), opens the explorer
headlessly at the given size, and times (a) the DAG layout (`render_circuit`), (b) a full redraw
of the Circuit tab with every hook point and edge drawn (`A`, `d`, no focus limit): layout in the
worker + the next screen frame, and (c) a frame after scrolling the DAG by a page. Medians of 5.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--size", default="160x50")
    a = ap.parse_args()
    w, h = (int(x) for x in a.size.split("x"))

    import torch

    import tasks
    from acdc_tui.runs.experiment import Settings, prepare
    from acdc_tui.ui.app import ExplorerApp
    from acdc_tui.ui.dag_render import render_circuit
    from acdc_tui.ui.widgets.circuit_view import CircuitView
    from tests.conftest import write_task_dir

    config = {"n_layers": a.layers, "n_heads": a.heads, "d_model": 32, "d_head": 4, "d_vocab": 50, "n_ctx": 8, "attn_only": True, "act_fn": "relu", "normalization_type": None}
    d = write_task_dir(Path(tempfile.mkdtemp()) / "task", config, seed=0)
    exp = prepare(tasks.load_task(None, str(d), "cpu", torch.float32), Settings(threshold=0.01))
    present = exp.run.present_edges()
    layout = []
    for _ in range(5):
        t = time.perf_counter()
        dag = render_circuit(exp.graph, present)
        layout.append(time.perf_counter() - t)
    app = ExplorerApp(exp=exp)
    redraw, scroll = [], []
    async with app.run_test(size=(w, h)) as pilot:
        while not app.query("#dag"):
            await pilot.pause(0.05)
        await pilot.pause(0.5)
        await pilot.press("1")
        view = app.query_one(CircuitView)
        view.options = replace(view.options, expand_all=True, show_dead=True, max_edges=10**9)  # every edge, as render_circuit
        for _ in range(5):
            t = time.perf_counter()
            view.redraw(force=True)
            while view.drawing:  # the layout runs in a worker thread
                await pilot.pause(0.005)
            await pilot.pause()
            redraw.append(time.perf_counter() - t)
            t = time.perf_counter()
            view.scroll_to(y=(view.scroll_y + h) % max(1, len(view.lines)), animate=False)
            await pilot.pause()
            scroll.append(time.perf_counter() - t)
    ms = lambda xs: f"{1000 * statistics.median(xs):.1f} ms"  # noqa: E731
    print(f"graph {a.layers}L{a.heads}H attn-only: {len(present)} present edges, DAG {len(dag.lines)} lines x {dag.width} cols; terminal {w}x{h}; torch threads {torch.get_num_threads()}")
    print(f"layout {ms(layout)}  layout+frame {ms(redraw)}  scroll frame {ms(scroll)}")


if __name__ == "__main__":
    asyncio.run(main())
