"""The explorer driven by real key presses (Textual's Pilot) on real small tasks."""

from __future__ import annotations

import time

import orjson
import pytest

from acdc_tui.core.graph import EdgeType
from acdc_tui.io.circuit import read_circuit
from acdc_tui.runs.driver import FINISHED, PAUSED
from acdc_tui.ui.app import ExplorerApp
from acdc_tui.ui.widgets.circuit_view import CircuitView
from acdc_tui.ui.widgets.decision_log import DecisionLog
from acdc_tui.ui.widgets.edge_table import EdgeTable
from tests.helpers import LocalRun, attached_app, experiment, final_state

SIZE = (120, 40)
RUNS: list[LocalRun] = []


@pytest.fixture(autouse=True)
def close_runs(local_runs):
    """`attached` puts its runs here; the shared fixture stops them after each test."""
    global RUNS
    RUNS = local_runs
    yield


def attached(task: str, tmp_path, out=None, **settings) -> ExplorerApp:
    """The explorer attached to a run loop (in a thread here; its own process in real use)."""
    return attached_app(experiment(task, **settings), tmp_path / f"{task}-{len(RUNS)}.journal", RUNS, out=out or tmp_path / "c.json")


async def until(pilot, pred, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, "timed out waiting for the UI"
        await pilot.pause(0.02)


async def drawn(pilot, circuit) -> None:
    """Wait until the Circuit tab shows a picture drawn with its current options (layouts run in a worker)."""
    await until(pilot, lambda: not circuit.drawing and circuit.drawn_options == circuit.options)


def ready(app) -> bool:
    """The explorer is up and its run process has started its loop."""
    return app.state is not None and app.state.status is not None and bool(app.query("#details")) and app.state.status.mode != "loading"


def mode(app) -> str | None:
    return app.state.status.mode if app.state and app.state.status else None


def file_key(e):
    return (e.sender.name, e.sender.head, e.receiver.name, e.receiver.head)


def straight(task: str):
    exp = experiment(task)
    list(exp.run.events())
    return exp


async def select_edge(app, pilot, edge) -> None:
    """Pick `edge` in the Edges tab with the keyboard: filter to it, then move onto its row."""
    await pilot.press("2", "slash")  # the Edges tab's filter, its old text selected
    await pilot.press(*f"{edge.sender.label} {edge.receiver.label}")
    await pilot.press("enter")
    table = app.query_one(EdgeTable)
    await until(pilot, lambda: table.table.row_count >= 1)
    # the filter may match more than one edge (label prefixes): walk to the right row
    for _ in range(table.table.row_count):
        if app.selected == edge:
            break
        await pilot.press("down")
    if app.selected != edge:
        await pilot.press("home")
        for _ in range(table.table.row_count):
            if app.selected == edge:
                break
            await pilot.press("down")
    assert app.selected == edge


@pytest.mark.parametrize("task", ["tracr-reverse", "tracr-proportion"])
async def test_run_to_completion_gives_the_headless_circuit(task, tmp_path):
    reference = straight(task)
    app = attached(task, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        assert mode(app) == PAUSED and app.state.status.done == 0  # opens paused
        await pilot.press("space")
        await until(pilot, lambda: mode(app) == FINISHED)
        assert final_state(app.local.exp) == final_state(reference)
        # what the UI shows is what the run decided
        for e in app.state.graph.edges:
            assert app.state.view(e).present == reference.run.records[e.key].present
        log = app.query_one(DecisionLog).lines
        assert sum("...so removing connection" in l for l in log) == sum(r.decided_by == "test" and not r.present for r in reference.run.records.values())
        dag = app.query_one(CircuitView)
        await pilot.press("1", "v", "v", "A", "d")  # the Circuit tab's graph: every hook point, dead ones too
        await drawn(pilot, dag)
        kept_labels = {n.label for e in reference.run.present_edges() for n in (e.sender, e.receiver)}
        assert set(dag.dag.node_spans) == kept_labels
        await pilot.press("A")  # heads aggregated: each hook point drawn as its head or MLP
        await drawn(pilot, dag)
        cells = app.state.cells.map.cell_of
        assert set(dag.dag.node_spans) == {n.label if cells[n].kind.value in ("input", "output") else cells[n].label for n in app.state.graph.nodes if n.label in kept_labels}


async def test_pause_step_then_continue_is_exact(tmp_path):
    reference = straight("tracr-reverse")
    app = attached("tracr-reverse", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        for i in range(1, 6):
            await pilot.press("n")
            await until(pilot, lambda: app.state.status.done >= i and mode(app) == PAUSED)
        assert app.state.status.done == 5
        await pilot.press("N")
        await until(pilot, lambda: mode(app) == PAUSED and app.state.status.done > 5)
        await pilot.press("space")
        await until(pilot, lambda: mode(app) == FINISHED)
        assert final_state(app.local.exp) == final_state(reference)


async def test_pin_an_edge_the_plain_run_removes_and_force_prune_one_it_keeps(tmp_path):
    reference = straight("tracr-reverse")
    recs = reference.run.records.values()
    removed = next(r.edge for r in recs if r.decided_by == "test" and not r.present and r.edge.type is EdgeType.ADDITION)
    kept = next(r.edge for r in recs if r.decided_by == "test" and r.present and r.edge.key != removed.key)
    app = attached("tracr-reverse", tmp_path, out=tmp_path / "c.json")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        await select_edge(app, pilot, removed)
        await pilot.press("p")  # before the edge is tested
        await select_edge(app, pilot, kept)
        await pilot.press("x")
        await pilot.press("space")
        await until(pilot, lambda: mode(app) == FINISHED)
        run = app.local.exp.run
        assert run.records[removed.key].present and run.records[removed.key].pinned
        assert not run.records[kept.key].present and run.records[kept.key].decided_by == "forced"
        assert app.state.view(removed).pinned and not app.state.view(kept).present
        log = "\n".join(app.query_one(DecisionLog).lines)
        assert "pinned: the threshold rule would have removed it" in log and "force-pruned by the user" in log
        # export with the keyboard, then read the file back
        await pilot.press("e")
        await pilot.press("enter")
        await until(pilot, lambda: (tmp_path / "c.json").exists() and (tmp_path / "c.dot").exists())
        c = read_circuit(tmp_path / "c.json")
        assert c.complete and c.present_keys() == {file_key(e) for e in run.present_edges()}
        assert [file_key(e) for e in c.edges if e.pinned] == [file_key(removed)]


async def test_override_after_the_decision_applies_live_and_recomputes_the_metric(tmp_path):
    reference = straight("tracr-reverse")
    removed = next(r.edge for r in reference.run.records.values() if r.decided_by == "test" and not r.present)
    app = attached("tracr-reverse", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        await pilot.press("space")
        await until(pilot, lambda: mode(app) == FINISHED)
        before = app.state.status.current_metric
        await select_edge(app, pilot, removed)
        await pilot.press("p")
        await until(pilot, lambda: app.state.view(removed).present)
        assert app.state.status.kept == reference.run.kept() + 1
        run = app.local.exp.run  # the worker is idle: reading the engine here is safe
        assert app.state.status.current_metric == run.engine.evaluate(run.absent)  # recomputed with the edge back
        assert any(l.startswith("Override: pinned") and "applied now, edge restored" in l for l in app.query_one(DecisionLog).lines)
        await pilot.press("c")  # clear: back to what ACDC decided
        await until(pilot, lambda: not app.state.view(removed).present)
        assert app.state.status.current_metric == pytest.approx(before, rel=1e-9, abs=1e-12)


async def test_threshold_change_from_the_keyboard(tmp_path):
    app = attached("tracr-proportion", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        await pilot.press("t")
        await pilot.press(*"nope", "enter")  # typing replaces the selected old value
        assert app.screen.query("#prompt-error")  # stays open with the error
        await pilot.press("escape")
        await pilot.press("t", *"0.5", "enter")
        await until(pilot, lambda: app.state.status.threshold == 0.5)
        assert any("Threshold changed from 0.01 to 0.5" in l for l in app.query_one(DecisionLog).lines)


async def test_quit_asks_while_a_run_is_in_progress_and_can_save(tmp_path):
    app = attached("tracr-reverse", tmp_path, out=tmp_path / "partial.json")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        await pilot.press("n", "n")
        await until(pilot, lambda: app.state.status.done >= 2 and mode(app) == PAUSED)
        await pilot.press("q")
        assert app.screen.__class__.__name__ == "ConfirmQuit"
        await pilot.press("n")
        assert app.is_running
        await pilot.press("q", "s")
        await until(pilot, lambda: not app.is_running)
    data = orjson.loads((tmp_path / "partial.json").read_bytes())
    assert data["complete"] is False and data["summary"]["edges_decided"] >= 2


async def test_open_an_exported_file(tmp_path):
    exp = straight("tracr-reverse")
    from acdc_tui.io.circuit import write_circuit
    from acdc_tui.runs.experiment import to_circuit

    write_circuit(to_circuit(exp, 0.0, True), tmp_path / "c.json")
    c = read_circuit(tmp_path / "c.json")
    app = ExplorerApp(circuit=c, circuit_graph=exp.graph, description="c.json", out=tmp_path / "copy.json")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        await pilot.press("1")
        await drawn(pilot, app.query_one(CircuitView))
        assert app.query_one(CircuitView).dag.lines
        assert app.state.status.kept == exp.run.kept()
        assert {e.key for e in app.state.present_edges()} == {e.key for e in exp.run.present_edges()}
        await pilot.press("p")  # no model: a warning, nothing changes
        await pilot.press("e", "enter")
        await until(pilot, lambda: (tmp_path / "copy.json").exists())
    assert read_circuit(tmp_path / "copy.json").present_keys() == c.present_keys()


async def test_tree_shows_states_and_expands_to_edges(tmp_path):
    app = attached("tracr-proportion", tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        await pilot.press("space")
        await until(pilot, lambda: mode(app) == FINISHED)
        tree = app.query_one("#sidebar")
        await pilot.press("down", "right")  # first group (inputs) opens
        await pilot.press("down")
        assert app.selected is not None
        out = app.state.graph.output_node
        tree.reveal(out)
        await pilot.pause()
        assert app.state.node_state(out) == "alive"
        label = tree.node_items[out].label.plain
        kept, removed, total = app.state.in_counts(out)
        assert f"{kept}/{removed}/{total}" in label
