"""The explorer at GPT-2 small's scale: frame and tab-switch times, and the run's rate with and without it.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/explorer_scale.py [--size 160x50] [--decide 4000] [--seconds 20]

Builds a random GPT-2-small-shaped model with narrow widths (12 layers x 12 heads, MLPs, d_model 24:
the real graph, 32,923 tested edges, a forward pass cheap enough for CPU) and opens the explorer
headlessly (Textual's Pilot). Each interaction sends one key and measures the time until the first
screen update (compositor refresh) that shows its effect: switching tabs, scrolling, filtering and
sorting all rows of the Edges tab, moving in the Overview (and the selection reaching the side bar
and Details), drawing the Circuit tab. Each is measured with the run paused (after `--decide`
edges) and again while the run goes at full speed in the same process (a thread, as today).
Last, the run's rate: edges decided per second headless, and with the explorer open.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class Frames:
    """Times of screen updates, each with what a probe saw in it."""

    def __init__(self) -> None:
        from textual.screen import Screen

        self.seen: list[tuple[float, object]] = []
        self.probe: Callable[[], object] | None = None
        original = Screen._compositor_refresh
        frames = self

        def refresh(screen) -> None:
            original(screen)
            if frames.probe is not None:
                frames.seen.append((time.perf_counter(), frames.probe()))

        Screen._compositor_refresh = refresh

    async def latency(self, app, key: str, probe: Callable[[], object], timeout: float = 60.0) -> float:
        """Send `key`; seconds until the first screen update in which `probe()` differs from now."""
        from textual import events

        before = probe()
        self.seen, self.probe = [], probe
        start = time.perf_counter()
        app._driver.send_message(events.Key(key, key if len(key) == 1 else None))
        while True:
            await asyncio.sleep(0.001)
            for when, value in self.seen:
                if value != before:
                    self.probe = None
                    return when - start
            if time.perf_counter() - start > timeout:
                raise TimeoutError(f"no screen update showed the effect of {key!r} in {timeout:.0f} s")


class Timings:
    def __init__(self, frames: Frames) -> None:
        self.frames = frames
        self.rows: list[tuple[str, list[float]]] = []

    async def keys(self, app, name: str, keys: list[str], probe: Callable[[], object]) -> None:
        times = []
        for key in keys:
            times.append(await self.frames.latency(app, key, probe))
            await asyncio.sleep(0.05)
        self.rows.append((name, times))

    def print(self, title: str) -> None:
        print(title)
        for name, times in self.rows:
            print(f"  {name:52} median {1000 * statistics.median(times):7.1f} ms   max {1000 * max(times):7.1f} ms   ({len(times)})")


async def interactions(app, timings: Timings) -> None:
    """One round of what a user does on a big model; each probe is what the key visibly changes."""
    tabs = app.query_one("#tabs")
    table = app.query_one("#edges")
    grid = table.table
    overview = app.query_one("#overview")
    await timings.keys(app, "tab switch: Edges (2)", ["2"], lambda: tabs.active)
    await timings.keys(app, "Edges: page down, rows redrawn", ["pagedown"] * 10, lambda: int(grid.scroll_y))
    await timings.keys(app, "Edges: down, side bar and Details follow", ["down"] * 10, lambda: app.selected)
    await timings.keys(app, "Edges: to the last of 33,367 rows (end)", ["end"], lambda: grid.cursor_row)
    await timings.keys(app, "Edges: sort all rows (s), each order", ["s"] * 6, lambda: table.sort_name)
    await timings.keys(app, "Edges: focus the filter (/)", ["slash"], lambda: app.focused)
    await timings.keys(app, "Edges: filter all rows, per key of 'removed'", list("removed"), lambda: tuple(table.filter_terms))
    await timings.keys(app, "Edges: back to the table (enter)", ["enter"], lambda: app.focused)
    await timings.keys(app, "tab switch: Overview (0)", ["0"], lambda: tabs.active)
    overview.cursor = None  # the next arrow puts it on the first cell; each move below then changes cells
    await timings.keys(app, "Overview: move the cursor", ["down", "down", "right", "right", "down", "right"], lambda: overview.cursor)
    await timings.keys(app, "Overview: ... selected everywhere", ["right", "down"] * 3, lambda: app.selected)
    circuit = app.query_one("#dag")
    circuit.dirty, circuit.picture = True, None  # drawn on arrival (in a worker thread): a new picture
    pressed = time.perf_counter()
    await timings.keys(app, "tab switch: Circuit (1)", ["1"], lambda: tabs.active)
    while circuit.picture is None:
        await asyncio.sleep(0.005)
    timings.rows.append(("Circuit (1): until its picture is drawn", [time.perf_counter() - pressed]))
    await timings.keys(app, "tab switch: Details (3)", ["3"], lambda: tabs.active)
    await timings.keys(app, "tab switch: Overview (0)", ["0"], lambda: tabs.active)
    table.filter_terms = []
    table.rebuild()


async def explore(exp, size: tuple[int, int], decide: int) -> tuple[Timings, Timings]:
    from acdc_tui.ui.app import ExplorerApp

    app = ExplorerApp(exp=exp)
    frames = Frames()
    paused, running = Timings(frames), Timings(frames)
    async with app.run_test(size=size) as pilot:
        while app.state is None or app.state.status is None or not app.query("#details"):
            await pilot.pause(0.05)
        await pilot.press("space")
        while app.state.status.done < decide:
            await pilot.pause(0.1)
        await pilot.press("space")
        while app.state.status.mode != "paused":
            await pilot.pause(0.05)
        await interactions(app, paused)
        await pilot.press("space")
        await interactions(app, running)
        await pilot.press("space")
    return paused, running


def rate_headless(exp, seconds: float) -> float:
    start, n = time.perf_counter(), 0
    for _ in exp.run.events():
        n += 1
        if time.perf_counter() - start > seconds:
            break
    return exp.run.records and sum(r.decided_by is not None for r in exp.run.records.values()) / (time.perf_counter() - start)


async def rate_explorer(exp, size: tuple[int, int], seconds: float) -> float:
    from acdc_tui.ui.app import ExplorerApp

    app = ExplorerApp(exp=exp)
    async with app.run_test(size=size) as pilot:
        while app.state is None or app.state.status is None or not app.query("#details"):
            await pilot.pause(0.05)
        start = time.perf_counter()
        await pilot.press("space")
        await pilot.pause(seconds)
        await pilot.press("space")
        elapsed = time.perf_counter() - start
        while app.state.status.mode != "paused":
            await pilot.pause(0.05)
        return app.state.status.done / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="160x50")
    ap.add_argument("--decide", type=int, default=4000, help="edges decided before the paused measurements")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each rate measurement")
    a = ap.parse_args()
    size = tuple(int(x) for x in a.size.split("x"))

    import torch

    import tasks
    from acdc_tui.runs.experiment import Settings, prepare
    from tests.conftest import GPT2_SHAPED_CONFIG, write_task_dir

    task_dir = write_task_dir(Path(tempfile.mkdtemp()) / "gpt2-shaped", GPT2_SHAPED_CONFIG, seed=2)

    def fresh():
        return prepare(tasks.load_task(None, str(task_dir), "cpu", torch.float32), Settings(threshold=0.001))

    exp = fresh()
    print(f"GPT-2-small-shaped random model: {len(exp.graph.tested_edges)} tested edges ({len(exp.graph.edges)} rows with structural ones); terminal {a.size}; torch threads {torch.get_num_threads()}")
    paused, running = asyncio.run(explore(exp, size, a.decide))
    paused.print(f"frames with the run paused after {a.decide} edges:")
    running.print("frames while the run goes at full speed (same process):")
    headless = rate_headless(fresh(), a.seconds)
    with_ui = asyncio.run(rate_explorer(fresh(), size, a.seconds))
    print(f"run rate over {a.seconds:g} s: headless {headless:.0f} edges/s; explorer open (same process, Overview shown) {with_ui:.0f} edges/s ({with_ui / headless:.2f}x)")


if __name__ == "__main__":
    main()
