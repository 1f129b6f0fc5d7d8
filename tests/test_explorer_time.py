"""Time travel, branching and diffs in the explorer, driven by key presses (Pilot)."""

from __future__ import annotations

import orjson

from acdc_tui.cli.main import main
from acdc_tui.runs.driver import FINISHED
from acdc_tui.runs.journal.reader import JournalReader
from acdc_tui.runs.journal.view import graph_of, state_at
from acdc_tui.ui.widgets.decision_log import DecisionLog
from tests.helpers import attached_app, experiment
from tests.test_explorer import SIZE, mode, ready, until


def present(app) -> set:
    return {(k[0].name, k[0].head, k[1].name, k[1].head) for k, v in app.state.edges.items() if v.present}


def exported(path) -> set:
    data = orjson.loads(path.read_bytes())
    return {(e["sender"]["hook"], e["sender"]["head"], e["receiver"]["hook"], e["receiver"]["head"]) for e in data["edges"] if e["present"]}


async def test_time_travel_shows_what_export_step_writes(tmp_path, local_runs, capsys):
    app = attached_app(experiment("tracr-reverse"), tmp_path / "run.journal", local_runs, out=tmp_path / "c.json")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        await pilot.press("space")
        await until(pilot, lambda: mode(app) == FINISHED)
        final = present(app)
        for step in (12, 40, 77):
            await pilot.press("g")
            await pilot.press(*str(step), "enter")  # typing replaces the selected value
            await until(pilot, lambda: app.cursor is not None and app.cursor.seq == step)
            assert main(["export", str(tmp_path / "run.journal"), "--step", str(step), "--out", str(tmp_path / f"s{step}.json")]) == 0
            assert present(app) == exported(tmp_path / f"s{step}.json")
            assert app.state.status.mode == "past" and app.state.status.done == orjson.loads((tmp_path / f"s{step}.json").read_bytes())["summary"]["edges_decided"]
            log = app.query_one(DecisionLog)
            assert log.marked is not None  # the log shows (and marks) the lines of that event
        await pilot.press("comma")  # one edge decision back
        before = app.cursor.seq
        assert before < 77
        await pilot.press("greater_than_sign")  # forward to the next receiver
        assert app.cursor is None or app.cursor.seq > before
        await pilot.press("L")
        await until(pilot, lambda: app.cursor is None)
        assert present(app) == final and app.state.status.mode == FINISHED
    capsys.readouterr()


async def test_when_was_an_edge_decided(tmp_path, local_runs):
    app = attached_app(experiment("tracr-proportion"), tmp_path / "run.journal", local_runs)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        await pilot.press("space")
        await until(pilot, lambda: mode(app) == FINISHED)
        edge = next(e for e in app.state.graph.tested_edges if app.state.view(e).decided_by == "test")
        app.select(edge)
        await pilot.press("w")
        await until(pilot, lambda: app.cursor is not None)
        assert app.cursor.seq == app.client.views()[edge.key].seq  # the event that decided it
        assert app.state.view(edge).decided_by == "test"
        await pilot.press("comma")  # just before: not decided yet
        assert app.state.view(edge).decided_by is None


async def test_branch_from_the_past_with_a_new_threshold_and_a_mark(tmp_path, local_runs):
    journal = tmp_path / "run.journal"
    app = attached_app(experiment("tracr-reverse", dtype=__import__("torch").float32), journal, local_runs)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        await pilot.press("space")
        await until(pilot, lambda: mode(app) == FINISHED)
        await pilot.press("g", *"30", "enter")
        await until(pilot, lambda: app.cursor is not None and app.cursor.seq == 30)
        edge = next(e for e in app.state.graph.tested_edges if app.state.view(e).decided_by is None and e.receiver.label.startswith("a0"))
        app.select(edge)
        await pilot.press("p")  # in the past: marked for the branch, the run is not changed
        assert app.branch_pins == [f"{edge.sender}->{edge.receiver}"] and not app.client.run.records[edge.key].pinned
        await pilot.press("b")
        await pilot.press(*"1e-6", "enter")
        await until(pilot, lambda: app.client.journal != journal and ready(app), timeout=120)
        branch = app.client.journal
        await until(pilot, lambda: mode(app) == "paused", timeout=120)
        await pilot.press("space")
        await until(pilot, lambda: mode(app) == FINISHED, timeout=120)
        shown = present(app)
    reader = JournalReader(branch)
    assert reader.meta["parent"] == {"journal": str(journal.resolve()), "step": 30, "threshold": 1e-6, "pins": [f"{edge.sender}->{edge.receiver}"], "force_prunes": []}
    replayed, _ = state_at(reader, graph_of(reader.meta))  # the branch's journal, replayed from scratch
    assert {(e.sender.name, e.sender.head, e.receiver.name, e.receiver.head) for e in replayed.present_edges()} == shown
    assert replayed.records[edge.key].pinned and replayed.threshold == 1e-6
    parent_rows = JournalReader(journal).events()
    assert [(r.seq, r.kind, r.data) for r in reader.events()[:30]] == [(r.seq, r.kind, r.data) for r in parent_rows[:30]]


async def test_diff_view_of_a_run_against_itself_is_empty(tmp_path, local_runs):
    journal = tmp_path / "run.journal"
    app = attached_app(experiment("tracr-proportion"), journal, local_runs)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        await pilot.press("space")
        await until(pilot, lambda: mode(app) == FINISHED)
        await pilot.press("D")
        await pilot.press(*str(journal), "enter")
        await until(pilot, lambda: app.screen.__class__.__name__ == "TextScreen")
        text = app.screen.text
        assert "Only in A (0 edges)" in text and "Only in B (0 edges)" in text and "0 only in A, 0 only in B" in text


async def test_attribution_beside_delta_in_the_edges_tab(tmp_path, local_runs, capsys):
    """--scores: an attr column, a sort by disagreement, ≠ on the most disagreeing edges, the Details rows."""
    from acdc_tui.analysis.attribution import compare, outcomes_of_run
    from acdc_tui.io.scores import read_scores
    from acdc_tui.ui.widgets.details import Details
    from acdc_tui.ui.widgets.edge_table import EdgeTable

    scores_path = tmp_path / "scores.json"
    # EAP on tracr-reverse's L2 metric: every score is 0 (flat at the clean run), so its ranking
    # disagrees with ACDC's kept edges (EAP-IG ranks them all on top: nothing to mark).
    assert main(["attribute", "--task", "tracr-reverse", "--method", "eap", "--dtype", "float64", "--out", str(scores_path)]) == 0
    capsys.readouterr()
    scores = read_scores(scores_path).scores
    app = attached_app(experiment("tracr-reverse"), tmp_path / "run.journal", local_runs, scores=scores_path)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: ready(app) and app.state.scores is not None)
        await pilot.press("space")
        await until(pilot, lambda: mode(app) == FINISHED)
        app.state.update_disagreement()
        want = compare(scores, outcomes_of_run(app.local.exp.run))  # the run's own records
        assert app.state.comparison.spearman == want.spearman and app.state.disagreement == want.disagreement
        assert app.state.disagree_marked and all(want.disagreement[k] > 0 for k in app.state.disagree_marked)
        await pilot.press("2")
        table = app.query_one(EdgeTable)
        while table.sort_name != "disagreement":
            await pilot.press("s")
        grid = table.table
        top = app.state.graph.edges[grid.rows[0]]
        assert top.key in app.state.disagree_marked  # the most disagreeing edge first, marked
        texts, _ = grid.source.cells(grid.rows[0])
        assert texts[6] == f"{scores[top.key]:+.3g}" and texts[7].startswith("≠")
        app.select(top)
        await pilot.press("3")
        body = app.query_one(Details).query_one("#details-body").render()
        assert "attribution score" in str(body) and "among the most disagreeing" in str(body)
