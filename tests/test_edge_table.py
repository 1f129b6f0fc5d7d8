"""The Edges tab at GPT-2 small's scale: filters and sorts over all rows, drawn rows, the keyboard."""

from __future__ import annotations

import pytest

from acdc_tui.runs.driver import PAUSED
from acdc_tui.ui.edge_rows import EdgeRows
from acdc_tui.ui.state import edge_flags, edge_state
from acdc_tui.ui.widgets.edge_table import EdgeTable
from tests.helpers import attached_app, experiment
from tests.scale_states import decided_state, gpt2_graph
from tests.test_explorer import until


def naive_filter(state, terms):
    """Indices of the edges whose words contain every term, computed the obvious way."""
    out = []
    for i, e in enumerate(state.graph.edges):
        v = state.edges[e.key]
        words = f"{e.sender.label} {e.receiver.label} {e.sender} {e.receiver} {e.type.value} {edge_state(e, v)} {edge_flags(v)} {v.decided_by or ''}".lower()
        if all(t in words for t in terms):
            out.append(i)
    return out


def by_delta(state, rows):
    """Largest Δ first, undecided last; ties in visiting order."""
    edges = state.graph.edges
    return sorted(rows, key=lambda i: (state.edges[edges[i].key].delta is None, -(state.edges[edges[i].key].delta or 0.0)))


@pytest.fixture(scope="module")
def state():
    return decided_state(gpt2_graph(), 9000)


@pytest.mark.parametrize("terms", [[], ["removed"], ["kept"], ["a5.3"], ["a10", "kept"], ["blocks.3.hook_mlp_out", "pending"], ["structural"], ["nothing-matches"]])
def test_filter_matches_a_naive_filter_over_every_edge(state, terms):
    rows = EdgeRows(state)
    assert rows.select(terms) == naive_filter(state, terms)
    assert len(rows.select([])) == len(state.graph.edges) == 33367  # 32,923 tested edges and 444 structural ones


def test_sorts_over_every_edge(state):
    rows = EdgeRows(state)
    everything = list(range(len(rows.edges)))
    assert rows.select([], "Δ") == by_delta(state, everything)
    assert rows.select([], "Δ", reverse=True) == by_delta(state, everything)[::-1]
    steps = rows.select(["kept"], "step")
    seqs = [state.edges[rows.edges[i].key].seq for i in steps]
    assert seqs == sorted(seqs) and len(steps) == len(naive_filter(state, ["kept"]))
    assert [rows.edges[i].receiver.label for i in rows.select(["a3.1"], "receiver")] == sorted(rows.edges[i].receiver.label for i in naive_filter(state, ["a3.1"]))
    assert not rows.depends_on_state([], "visiting order") and rows.depends_on_state([], "Δ") and rows.depends_on_state(["a1"], "sender")


async def step_receivers(pilot, n: int) -> None:
    """Press N (step to the next receiver) n times, each time until the run pauses at another receiver."""
    app = pilot.app
    for _ in range(n):
        before = app.state.status.current_node
        await pilot.press("N")
        await until(pilot, lambda: app.state.status.mode == PAUSED and app.state.status.current_node != before, timeout=120)


def screen_rows(grid) -> list[str]:
    """The text of the rows on screen, below the header."""
    return [grid.render_line(y).text for y in range(1, grid.scrollable_content_region.height)]


async def test_edges_tab_at_gpt2_scale(gpt2_shaped_task_dir, tmp_path, local_runs):
    app = attached_app(experiment(task_dir=gpt2_shaped_task_dir, threshold=0.001), tmp_path / "run.journal", local_runs)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: app.state is not None and app.state.status is not None and bool(app.query("#details")))
        await step_receivers(pilot, 3)  # enter the output; its 157 in-edges; the last MLP's 156
        assert app.state.status.done == 157 + 156
        await pilot.press("2")
        table = app.query_one(EdgeTable)
        grid = table.table
        assert grid.row_count == 33367 and app.focused is grid
        first = screen_rows(grid)[0].split()
        assert first[1:3] == [app.state.graph.edges[0].sender.label, "out"]  # visiting order: the output's edges first
        await pilot.press("slash", *"removed", "enter")
        assert grid.rows == naive_filter(app.state, ["removed"]) and 0 < grid.row_count < 313
        await pilot.press("s")  # by Δ
        assert grid.rows == by_delta(app.state, naive_filter(app.state, ["removed"]))
        await pilot.press("slash", "backspace", "enter")  # clear the filter (its text is selected): every row, by Δ
        assert grid.rows == by_delta(app.state, list(range(33367)))
        await pilot.press("end")
        last = app.state.graph.edges[grid.rows[-1]]
        assert grid.cursor_row == 33366 and app.selected == last
        assert screen_rows(grid)[-1].split()[0:2] == [last.sender.label, last.receiver.label]  # undecided: no step
        await pilot.press("home", "pagedown")
        top = int(grid.scroll_y)
        assert top > 0 and screen_rows(grid)[0].split()[2] == app.state.graph.edges[grid.rows[top]].receiver.label
