"""The explorer at GPT-2 small's scale: frame and tab-switch times, and the run's rate with and without it.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/explorer_scale.py [--size 160x50] [--decide 4000] [--seconds 20]

Builds a random GPT-2-small-shaped model with narrow widths (12 layers x 12 heads, MLPs, d_model 24:
the real graph, 32,923 tested edges, a forward pass cheap enough for CPU) and opens the explorer
headlessly (Textual's Pilot). Each interaction sends one key and measures the time until the first
screen update (compositor refresh) that shows its effect: switching tabs, scrolling, filtering and
sorting all rows of the Edges tab, moving in the Overview (and the selection reaching the side bar
and Details), drawing the Circuit tab and each of its keys (views, paths through the selection, the
graph's focus, hops and edges per unit), and whether its picture holds still while the run goes. Each is measured with the run paused (after `--decide`
edges) and again while the run goes at full speed. The run is its own process (`acdc-tui run
--paused`, as the explorer starts it) and the explorer follows its journal, as in real use.
Last, the run's rate: edges decided per second by the run process with no client, and with the
explorer attached (Overview shown), each over `--seconds` after the same start.
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
        self.notes: list[str] = []

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
        for note in self.notes:
            print(f"  {note}")


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
    await circuit_frames(app, timings, circuit)
    await timings.keys(app, "tab switch: Details (3)", ["3"], lambda: tabs.active)
    await timings.keys(app, "tab switch: Overview (0)", ["0"], lambda: tabs.active)
    table.filter_terms = []
    table.rebuild()


async def circuit_frames(app, timings: Timings, circuit) -> None:
    """The Circuit tab's keys, each until its new picture is on screen, and whether it holds still."""
    picture = lambda: id(circuit.picture)  # noqa: E731 (a new picture object per drawing)
    await timings.keys(app, "Circuit: update to the run's state (u)", ["u"] * 3, picture)
    await timings.keys(app, "Circuit: next view (v: paths, matrix, graph)", ["v"] * 6, picture)
    if app.selected is not None:
        await timings.keys(app, "Circuit: paths through the selection (enter)", ["enter"], picture)
        await timings.keys(app, "Circuit: all paths again (backspace)", ["backspace"], picture)
    await timings.keys(app, "Circuit: next view (v), to the graph", ["v", "v"], picture)
    await timings.keys(app, "Circuit graph: more / fewer edges per unit (+ -)", ["plus", "minus"] * 2, picture)
    await timings.keys(app, "Circuit graph: focus on, off (f)", ["f"] * 2, picture)
    await timings.keys(app, "Circuit graph: more, fewer hops (] [)", ["right_square_bracket", "left_square_bracket"], picture)
    await timings.keys(app, "Circuit: back to paths (v)", ["v"], picture)
    drawn, start = id(circuit.picture), time.perf_counter()
    changes = 0
    while time.perf_counter() - start < 2.0:  # the run may be going: the picture must hold still
        await asyncio.sleep(0.05)
        changes += id(circuit.picture) != drawn
        drawn = id(circuit.picture)
    timings.notes.append(f"Circuit: pictures redrawn in 2 s without a key (follow off; the run {app.state.status.mode}): {changes}")


def start_run(task_dir: Path, work: Path, name: str):
    """A paused run process on the task, as the explorer starts one; returns (journal, process)."""
    from acdc_tui.runs.client import RunClient
    from acdc_tui.runs.launch import spawn

    journal = work / f"{name}.journal"
    process, output = spawn(["run", "--task-dir", str(task_dir), "--threshold", "0.001", "--paused", "--quiet", "--journal", str(journal), "--out", str(work / f"{name}.json")], journal)
    client = RunClient(journal, process, output)
    client.wait_ready(lambda: False)
    client.close()
    return journal, process


def stop_run(journal: Path, process) -> None:
    from acdc_tui.runs.journal.reader import JournalReader
    from acdc_tui.runs.journal.schema import CommandKind

    reader = JournalReader(journal)
    reader.send(CommandKind.STOP, None, "benchmark")
    reader.close()
    process.wait(60)


def decided(journal: Path) -> int:
    from acdc_tui.runs.journal.reader import JournalReader

    reader = JournalReader(journal)
    try:
        return int(reader.status().get("done") or 0)
    finally:
        reader.close()


async def explore(task_dir: Path, work: Path, size: tuple[int, int], decide: int) -> tuple[Timings, Timings]:
    from acdc_tui.runs.client import RunClient
    from acdc_tui.ui.app import ExplorerApp

    journal, process = start_run(task_dir, work, "frames")
    app = ExplorerApp(client=RunClient(journal, process))
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
    stop_run(journal, process)
    return paused, running


def rate_headless(task_dir: Path, work: Path, seconds: float) -> float:
    """The run process alone: played through its journal, nobody attached."""
    from acdc_tui.runs.journal.reader import JournalReader
    from acdc_tui.runs.journal.schema import CommandKind

    journal, process = start_run(task_dir, work, "headless")
    reader = JournalReader(journal)
    reader.send(CommandKind.PLAY, None, "benchmark")
    reader.close()
    start = time.perf_counter()
    time.sleep(seconds)
    done, elapsed = decided(journal), time.perf_counter() - start
    stop_run(journal, process)
    return done / elapsed


async def rate_explorer(task_dir: Path, work: Path, size: tuple[int, int], seconds: float) -> float:
    from acdc_tui.runs.client import RunClient
    from acdc_tui.ui.app import ExplorerApp

    journal, process = start_run(task_dir, work, "explorer")
    app = ExplorerApp(client=RunClient(journal, process))
    async with app.run_test(size=size) as pilot:
        while app.state is None or app.state.status is None or not app.query("#details"):
            await pilot.pause(0.05)
        start = time.perf_counter()
        await pilot.press("space")
        await pilot.pause(seconds)
        done, elapsed = decided(journal), time.perf_counter() - start
    stop_run(journal, process)
    return done / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="160x50")
    ap.add_argument("--decide", type=int, default=4000, help="edges decided before the paused measurements")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each rate measurement")
    ap.add_argument("--repeats", type=int, default=3, help="rate measurements of each kind")
    a = ap.parse_args()
    size = tuple(int(x) for x in a.size.split("x"))

    import os

    from tests.conftest import GPT2_SHAPED_CONFIG, write_task_dir

    work = Path(tempfile.mkdtemp())
    task_dir = write_task_dir(work / "gpt2-shaped", GPT2_SHAPED_CONFIG, seed=2)
    print(f"GPT-2-small-shaped random model (12L x 12H, 32,923 tested edges, 33,367 rows); terminal {a.size}; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; the run in its own process, the explorer following its journal")
    paused, running = asyncio.run(explore(task_dir, work, size, a.decide))
    paused.print(f"frames with the run paused after {a.decide} edges:")
    running.print("frames while the run goes at full speed (its own process):")
    rates = []
    for i in range(a.repeats):  # alternate, to cancel drift
        if i % 2 == 0:
            rates.append((rate_headless(task_dir, work, a.seconds), asyncio.run(rate_explorer(task_dir, work, size, a.seconds))))
        else:
            with_ui = asyncio.run(rate_explorer(task_dir, work, size, a.seconds))
            rates.append((rate_headless(task_dir, work, a.seconds), with_ui))
    headless = statistics.median(r[0] for r in rates)
    with_ui = statistics.median(r[1] for r in rates)
    print(f"run rate over {a.seconds:g} s (median of {a.repeats}): no client {headless:.0f} edges/s; explorer attached (Overview shown) {with_ui:.0f} edges/s ({with_ui / headless:.2f}x)")


if __name__ == "__main__":
    main()
