"""What the explorer shows is what it exports, stops, attaches to and leaves behind (issue 17, items 1-5, 7, 8).

Real key presses (Textual's Pilot) on real small runs whose loops write real journals."""

from __future__ import annotations

import time

import orjson
import pytest

from acdc_tui.cli.main import main
from acdc_tui.core.events import NodeSkipped
from acdc_tui.runs.client import RunClient
from acdc_tui.runs.driver import FINISHED, PAUSED
from acdc_tui.runs.journal.view import circuit_from_journal, summarize
from acdc_tui.runs.paths import sidecar
from acdc_tui.ui.app import ExplorerApp
from acdc_tui.ui.widgets.decision_log import DecisionLog
from acdc_tui.ui.widgets.details import Details
from acdc_tui.ui.widgets.edge_table import EdgeTable
from tests.helpers import LocalRun, attached_app, experiment
from tests.test_explorer import mode, ready, select_edge, until

SIZE = (120, 40)


def comparable(path) -> dict:
    """A circuit file without what differs between two writes of the same state (creation time)."""
    data = orjson.loads(path.read_bytes())
    data.pop("created")
    return data


def attached(task, tmp_path, runs, name="run", **settings) -> ExplorerApp:
    return attached_app(experiment(task, **settings), tmp_path / f"{name}.journal", runs)


async def test_export_in_the_past_writes_the_state_shown_as_export_step_does(tmp_path, local_runs):
    app = attached("tracr-reverse", tmp_path, local_runs)
    journal = app.local.journal
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        await pilot.press("space")
        await until(pilot, lambda: mode(app) == FINISHED)
        live_kept = app.state.status.kept
        await pilot.press(*["comma"] * 12)  # back twelve decisions
        await until(pilot, lambda: app.cursor is not None and app.state.status.done < app.state.status.total)
        step = app.cursor.seq
        await pilot.press("e")
        default = sidecar(journal, f"-event{step}.json")
        assert app.screen.query_one("#prompt-input").value == str(default)  # the run's own name, beside its journal
        await pilot.press("enter")
        await until(pilot, lambda: default.exists() and default.with_suffix(".dot").exists())
        assert any(f"after event {step}" in line for line in app.query_one(DecisionLog).lines)
    assert main(["export", str(journal), "--out", str(tmp_path / "cli.json"), "--step", str(step)]) == 0
    shown, cli = comparable(default), comparable(tmp_path / "cli.json")
    assert shown == cli
    assert shown["summary"]["edges_kept"] != live_kept  # the past, not the live circuit
    assert shown["summary"]["edges_kept"] == app.state.status.kept


async def test_a_finished_run_attached_from_its_journal_exports_without_a_run_process(tmp_path, local_runs):
    journal = tmp_path / "done.journal"
    run = LocalRun(experiment("tracr-proportion"), journal, autorun=True)
    run.thread.join(60)  # finished; with no client attached its loop ends by itself
    run.close()  # only the journal is left
    app = ExplorerApp(client=RunClient(journal))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app) and not app.client.alive)
        assert mode(app) == FINISHED
        await pilot.press("e", "enter")
        out = sidecar(journal, "-export.json")
        await until(pilot, lambda: out.exists())
    assert main(["export", str(journal), "--out", str(tmp_path / "cli.json")]) == 0
    assert comparable(out)["edges"] == comparable(tmp_path / "cli.json")["edges"]
    assert orjson.loads(out.read_bytes())["complete"] is True


async def test_quit_with_s_exports_exactly_the_stopped_runs_state(tmp_path, local_runs, gpt2_shaped_task_dir):
    # the plain engine: slow enough that the run is still going when the stop arrives, on any machine
    app = attached_app(experiment(task_dir=gpt2_shaped_task_dir, engine="plain"), tmp_path / "big.journal", local_runs)
    journal = app.local.journal
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app), timeout=60)
        await pilot.press("space")  # running while we quit
        await until(pilot, lambda: app.state.status.done >= 30)
        await pilot.press("q", "s")
        await until(pilot, lambda: not app.is_running, timeout=60)
    local_runs.remove(app.local)
    app.local.close()
    out = sidecar(journal, "-export.json")
    stopped = circuit_from_journal(journal)
    data = orjson.loads(out.read_bytes())
    assert data["complete"] is False
    assert data["summary"]["edges_decided"] == stopped.summary["edges_decided"]
    assert {(e["sender"]["hook"], e["sender"]["head"], e["receiver"]["hook"], e["receiver"]["head"]) for e in data["edges"] if e["present"]} == stopped.present_keys()


async def test_leave_it_running_leaves_a_paused_run_paused_and_says_how_to_stop_it(tmp_path, local_runs):
    from acdc_tui.cli.commands.explore import left_behind

    app = attached("tracr-reverse", tmp_path, local_runs)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        await pilot.press("n")
        await until(pilot, lambda: app.state.status.done >= 1 and mode(app) == PAUSED)
        await pilot.press("q")
        assert "leave it paused" in str(app.screen.query_one("Static").render())
        await pilot.press("l")
        await until(pilot, lambda: not app.is_running)
    assert app.left_running == PAUSED
    time.sleep(0.5)
    s = summarize(app.local.journal)
    assert s.state.value == PAUSED and s.done == 1  # not sent a play command
    text = left_behind(app.local.journal, PAUSED)
    assert "stays paused" in text and f"acdc-tui attach {app.local.journal}" in text and "q then x" in text and "acdc-tui ps" in text


def _step_once(journal) -> None:
    from acdc_tui.runs.journal.reader import JournalReader
    from acdc_tui.runs.journal.schema import CommandKind

    reader = JournalReader(journal)
    reader.send(CommandKind.STEP_EDGE, None, "test")
    reader.close()


def test_attach_without_a_journal_picks_the_live_run_most_recently_active(tmp_path, local_runs, capsys):
    from acdc_tui.cli.commands.attach import pick_journal

    busy = LocalRun(experiment("tracr-proportion"), tmp_path / "a-busy.journal")
    idle = LocalRun(experiment("tracr-proportion"), tmp_path / "b-idle.journal")
    local_runs += [busy, idle]
    finished = tmp_path / "c-newest.journal"
    done = LocalRun(experiment("tracr-proportion"), finished, autorun=True)
    done.thread.join(60)
    done.close()  # the newest journal, but no run lives there
    time.sleep(1.1)
    _step_once(busy.journal)
    end = time.monotonic() + 20
    while summarize(busy.journal).done < 1:
        assert time.monotonic() < end
        time.sleep(0.05)
    journals = [busy.journal, idle.journal, finished]
    assert pick_journal(journals) == busy.journal  # not the newest journal: the live run most recently active
    assert "2 runs are live" in capsys.readouterr().err
    for run in (busy, idle):
        local_runs.remove(run)
        run.close()
    assert pick_journal(journals) == finished  # none live: the newest journal, and it says so
    assert "no run is live" in capsys.readouterr().err


async def test_the_chooser_of_live_runs_with_keys(tmp_path):
    from acdc_tui.ui.run_chooser import RunChooser

    runs = [(tmp_path / "a.journal", "running a"), (tmp_path / "b.journal", "paused b")]
    app = RunChooser(runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("down", "enter")
    assert app.return_value == tmp_path / "b.journal"
    app = RunChooser(runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("escape")
    assert app.return_value is None


async def test_a_pinned_edge_whose_path_is_cut_is_marked_dangling_everywhere(tmp_path, local_runs):
    reference = experiment("tracr-reverse")
    events = list(reference.run.events())
    skipped = next(e.node for e in events if isinstance(e, NodeSkipped) and any(x.tested for x in reference.graph.incoming[e.node]))
    edge = next(x for x in reference.graph.incoming[skipped] if x.tested)
    assert edge.key not in reference.run.dangling()  # unpinned, ACDC removes it with its receiver
    app = attached("tracr-reverse", tmp_path, local_runs)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        await select_edge(app, pilot, edge)
        await pilot.press("p", "space")
        await until(pilot, lambda: mode(app) == FINISHED)
        assert app.state.view(edge).present and edge.key in app.state.dangling
        assert app.state.dangling == app.local.exp.run.dangling()  # the core decides, the UI shows
        log = "\n".join(app.query_one(DecisionLog).lines)
        assert f"warning: {edge.sender.label} → {edge.receiver.label} dangles" in log
        await select_edge(app, pilot, edge)
        table = app.query_one(EdgeTable)
        row = table.source.cells(table.source.index[edge.key])[0]
        assert "dangling" in row[-1] and "pinned" in row[-1]
        await pilot.press("3")
        assert "dangling" in app.query_one("#details-body").render().plain
        await pilot.press("e", "enter")
        out = sidecar(app.local.journal, "-export.json")
        await until(pilot, lambda: out.exists())
    data = orjson.loads(out.read_bytes())
    marked = [e for e in data["edges"] if e.get("dangling")]
    assert [(e["sender"]["hook"], e["receiver"]["hook"]) for e in marked] == [(edge.sender.name, edge.receiver.name)]
    assert data["summary"]["edges_dangling"] == 1


async def test_exports_default_to_each_runs_own_file_and_never_overwrite_another_without_asking(tmp_path, local_runs):
    first = attached("tracr-proportion", tmp_path, local_runs, name="first")
    async with first.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(first))
        await pilot.press("n")
        await until(pilot, lambda: first.state.status.done >= 1 and mode(first) == PAUSED)
        await pilot.press("e")
        mine = sidecar(first.local.journal, f"-event{first._shown_step()}.json")
        assert first.screen.query_one("#prompt-input").value == str(mine)
        await pilot.press("enter")
        await until(pilot, lambda: mine.exists())
        await pilot.press("e", "enter")  # the same run's own file again: no question
        await until(pilot, lambda: any(l.count(str(mine)) for l in first.query_one(DecisionLog).lines[-1:]))
    before = mine.read_bytes()
    second = attached("tracr-proportion", tmp_path, local_runs, name="second")
    async with second.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(second))
        await pilot.press("e")
        assert second.screen.query_one("#prompt-input").value.startswith(str(sidecar(second.local.journal, "-")))
        await pilot.press(*str(mine), "enter")  # the first run's file: asks
        assert type(second.screen).__name__ == "Confirm"
        await pilot.press("n")
        await pilot.pause(0.3)
        assert mine.read_bytes() == before
        outside = tmp_path.parent / f"{tmp_path.name}-outside.json"
        await pilot.press("e", *str(outside), "enter")  # outside the run's folders: asks
        assert type(second.screen).__name__ == "Confirm" and "outside" in str(second.screen.query("Static").first().render())
        await pilot.press("y")
        await until(pilot, lambda: outside.exists())
    outside.unlink()
    outside.with_suffix(".dot").unlink()


@pytest.mark.parametrize("text", ["", "   "])
def test_export_path_check_refuses_a_directory(text):
    from acdc_tui.ui.exporting import check_path

    assert "directory" in check_path(text)
