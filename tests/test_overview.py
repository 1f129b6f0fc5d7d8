"""The overview: cell states and counts (checked against the edges directly), live updates, layouts."""

from __future__ import annotations

from dataclasses import replace

import pytest

from acdc_tui.runs.driver import Batch, EdgeView
from acdc_tui.ui.cell_states import ASCII_MARKS, MARKS, CellBook, CellState
from acdc_tui.ui.model_map import CellKind
from acdc_tui.ui.overview_render import CellFormat, neighbour, render_overview
from tests.scale_states import decided_state, gpt2_graph


@pytest.fixture(scope="module")
def graph():
    return gpt2_graph()


def counted(state, cell) -> tuple[int, int, int, int]:
    """(kept, removed, total, pinned+forced) of a cell's tested in-edges from outside it, straight from the edges."""
    inside = set(cell.members)
    ins = [e for e in state.graph.tested_edges if e.receiver in inside]
    outside = [state.edges[e.key] for e in ins if e.sender not in inside]
    decided = [v for v in outside if v.decided_by is not None or not v.present]
    overrides = sum(state.edges[e.key].pinned + state.edges[e.key].forced for e in ins)
    return sum(v.present for v in decided), sum(not v.present for v in decided), len(outside), overrides


def test_counts_and_states_match_the_edges(graph):
    state = decided_state(graph, 9000)
    book, m = state.cells, state.cells.map
    for cell in m.cells:
        c = book.counts(cell)
        assert (c.kept, c.removed, c.total, c.pinned + c.forced) == counted(state, cell), cell.label
    current = state.status.current_node
    assert book.cell_state(m.cell_of[current]) is CellState.CURRENT
    assert {book.cell_state(c) for c in m.layers[0].heads} == {CellState.PENDING}  # not reached yet
    assert book.cell_state(m.output) is CellState.ALIVE
    for cell in m.layers[11].heads:  # reached: dead exactly when no out-edge of the result is present
        result = cell.outputs[0]
        dead = not any(state.edges[result, r].present for r in graph.dag.succ[result])
        assert book.cell_state(cell) is (CellState.DEAD if dead else CellState.ALIVE)


def test_live_updates_equal_a_fresh_computation(graph):
    state = decided_state(graph, 9000)
    m = state.cells.map
    for cell in m.cells:  # fill the caches first: the update must invalidate exactly what changed
        state.cells.summary(cell)
    victim, pinned_into = m.layers[6].heads[4], m.layers[8].heads[2]
    result = victim.outputs[0]
    changes = {(result, r): replace(state.edges[result, r], present=False, decided_by="test", seq=1) for r in graph.dag.succ[result]}
    pin = next(e for e in graph.incoming[pinned_into.members[-1]] if e.tested)  # an in-edge of a q/k/v input
    changes[pin.key] = replace(state.edges[pin.key], pinned=True)
    new_current = graph.tested_edges[9500].receiver
    state.apply(Batch((), changes, replace(state.status, current_node=new_current, done=9500)))
    fresh = CellBook(state)
    for cell in m.cells:
        assert state.cells.summary(cell).counts == fresh.summary(fresh.map.cell_of[cell.members[0]]).counts, cell.label
        assert state.cells.cell_state(cell) is fresh.cell_state(fresh.map.cell_of[cell.members[0]]), cell.label
    assert state.cells.cell_state(victim) is CellState.DEAD
    assert state.cells.cell_state(pinned_into) is CellState.OVERRIDDEN


@pytest.mark.parametrize(
    "size, fmt, fold",
    [((123, 40), CellFormat.FULL, 1), ((80, 17), CellFormat.KEPT, 1), ((40, 17), CellFormat.SPACED, 1), ((25, 17), CellFormat.DENSE, 1), ((55, 10), CellFormat.DENSE, 2)],
    ids=["160x50-tab", "80-wide", "40-wide", "25-wide", "80x24-tab"],
)
def test_layout_fits_the_space_and_shows_every_cell_once(graph, size, fmt, fold):
    state = decided_state(graph, 9000)
    width, height = size
    text = render_overview(state.cells, width, height)
    assert (text.layout.cell_format, text.layout.fold) == (fmt, fold)
    assert len(text.lines) <= height
    grid = [line for i, line in enumerate(text.lines) if any(pos[0] == i for c, pos in text.cells.items() if c.kind is CellKind.HEAD)]
    assert len(grid) == 12 // fold and all(len(line) <= width for line in grid)
    assert set(text.cells) == set(state.cells.map.cells)
    for cell, (line, start, end) in text.cells.items():  # each cell starts with its state's mark
        assert text.lines[line][start] == MARKS[text.states[cell]], cell.label
    # the mark, then kept/removed counts of decided cells (FULL)
    if fmt is CellFormat.FULL:
        cell = state.cells.map.layers[11].heads[3]
        line, start, end = text.cells[cell]
        c = state.cells.counts(cell)
        assert text.lines[line][start:end].split() == [MARKS[text.states[cell]], f"{c.kept}/{c.removed}"]


def test_ascii_marks_and_navigation(graph):
    state = decided_state(graph, 9000)
    m = state.cells.map
    text = render_overview(state.cells, 123, 40, cursor=m.layers[3].heads[4], ascii_only=True)
    assert all(ch.isascii() for line in text.lines for ch in line)
    assert {text.lines[line][start] for line, start, _ in text.cells.values()} <= set(ASCII_MARKS.values())
    assert text.lines[-2].startswith("a3.4 pending: 0 kept, 0 removed")  # the cursor's cell, described
    a34 = m.layers[3].heads[4]
    assert neighbour(text, a34, 1, 0) is m.layers[3].heads[5]
    assert neighbour(text, a34, 0, 1) is m.layers[4].heads[4]
    assert neighbour(text, m.layers[3].heads[11], 1, 0) is m.layers[3].blocks[0]
    assert neighbour(text, m.layers[0].heads[0], 0, -1) is m.inputs[0]
    assert neighbour(text, m.layers[11].heads[0], 0, 1) is m.output
    folded = render_overview(state.cells, 55, 10)  # two layers per line: right of m0 is layer 6
    assert neighbour(folded, m.layers[0].blocks[0], 1, 0) is m.layers[6].heads[0]


def test_pinned_edge_and_dead_head_read_without_colour(graph):
    state = decided_state(graph, 2000)
    m = state.cells.map
    head = m.layers[2].heads[7]
    edge = next(e for e in graph.incoming[head.members[-1]] if e.tested)
    state.edges[edge.key] = EdgeView(True, None, None, None, None, True, False)
    state.cells.invalidate([edge.key])
    text = render_overview(state.cells, 123, 40)
    line, start, _ = text.cells[head]
    assert text.lines[line][start] == MARKS[CellState.OVERRIDDEN] == "◆"
    assert "◆ pinned/forced" in text.lines[-1]  # the legend


async def test_overview_of_a_live_run_and_selecting_a_cell(gpt2_shaped_task_dir, tmp_path, local_runs):
    from acdc_tui.runs.driver import edge_view
    from acdc_tui.ui.state import ExplorerState
    from acdc_tui.ui.widgets.details import Details
    from acdc_tui.ui.widgets.edge_table import EdgeTable
    from acdc_tui.ui.widgets.hook_tree import HookTree
    from acdc_tui.ui.widgets.overview import Overview
    from tests.helpers import attached_app, experiment
    from tests.test_edge_table import step_receivers
    from tests.test_explorer import until

    app = attached_app(experiment(task_dir=gpt2_shaped_task_dir, threshold=0.001), tmp_path / "run.journal", local_runs, ascii_only=False)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, lambda: app.state is not None and app.state.status is not None and bool(app.query("#details")))
        overview = app.query_one(Overview)
        assert app.focused is overview
        await step_receivers(pilot, 3)  # the output's in-edges, then the last MLP's
        while app.state.status.done < 157 + 156 + 40:  # and 40 edges into the heads of layer 11, one at a time
            done = app.state.status.done
            await pilot.press("n")
            await until(pilot, lambda: app.state.status.done > done and app.state.status.mode == "paused")
        await pilot.pause()
        run = app.local.exp.run  # paused: the run loop does not touch the run now
        fresh = ExplorerState(app.state.graph, {e.key: edge_view(run, e) for e in app.state.graph.edges}, app.state.status)
        text = overview.text
        assert text.lines[:-2] == render_overview(fresh.cells, *overview.scrollable_content_region.size).lines[:-2]
        heads = [c for c in text.cells if c.kind is CellKind.HEAD]
        assert len(heads) == 144 and len({text.cells[c][0] for c in heads}) == 12  # 12 lines of 12 heads
        m = app.state.cells.map
        out_edges = [run.records[e.key] for e in app.state.graph.incoming[app.state.graph.output_node] if e.tested]
        counts = app.state.cells.counts(m.output)
        assert (counts.kept, counts.removed) == (sum(r.present for r in out_edges), sum(not r.present for r in out_edges))
        current = m.cell_of[run.current_node]
        assert current.layer == 11 and text.states[current] is CellState.CURRENT
        assert {text.states[c] for c in m.layers[0].heads} == {CellState.PENDING}

        # the cursor: down from the inputs line into layer 0, right to head 1: selected everywhere
        await pilot.press("down", "down", "right")
        cell = overview.cursor
        node = m.node_of(cell)
        assert cell is m.layers[0].heads[1] and app.selected == node
        assert app.query_one(Details).target == node
        assert app.query_one(HookTree).cursor_node.data == ("node", node)
        edge = app.query_one(EdgeTable).table.cursor_edge()
        assert node in (edge.receiver, edge.sender)
        assert text.lines[-2] != overview.text.lines[-2] and overview.text.lines[-2].startswith("a0.1 pending")
