"""The Circuit tab as a researcher reads it: only live edges, the strongest paths (exact), the layer
matrix, names on screen at 80x24 and 200x60 at GPT-2 scale, and a picture that holds still while
the run goes on (real key presses on a real small run)."""

from __future__ import annotations

import math
import time
from dataclasses import replace

import pytest
from textual.app import App, ComposeResult

from acdc_tui.runs.driver import FINISHED, RUNNING
from acdc_tui.ui.circuit_layout import CircuitOptions, CircuitPicture
from acdc_tui.ui.circuit_paths import PathFinder, Weight, kept_circuit, layer_matrix, live_edges, unit_label
from acdc_tui.ui.widgets.circuit_view import CircuitView, Request, View, draw_request, snapshot_of
from tests.circuit_states import gpt2_circuit_state
from tests.helpers import attached_app, experiment
from tests.test_explorer import until


@pytest.fixture(scope="module")
def gpt2_state():
    """A finished GPT-2-small-shaped circuit: 32,923 tested edges, about 1,800 live ones."""
    return gpt2_circuit_state(keep=0.1)


def node(state, label):
    return next(n for n in state.graph.nodes if n.label == label)


def all_paths(circuit):
    """Every input -> output path of the unit graph with its strength (brute force)."""
    succ = circuit.succ
    top = max(w for w in circuit.edges.values() if w is not None)
    out = []

    def walk(path, log):
        u = path[-1]
        if u == circuit.output:
            out.append((math.exp(log), tuple(path)))
            return
        for v in succ.get(u, ()):
            w = circuit.edges[u, v]
            walk(path + [v], log + (0.0 if w is None else math.log(max(w / top, 1e-300))))

    for i in circuit.inputs:
        walk([i], 0.0)
    return sorted(out, reverse=True)


# ---- only what is in the circuit ----


def test_an_edge_into_a_cut_hook_point_is_not_live(gpt2_state):
    """Issue 17 item 7: a5.3 -> a9.2.q_in kept (pinned), a9.2's q -> result removed: no path a5.3 -> a9.2 through q."""
    state = snapshot_of(gpt2_state).state
    sender, q_in, q, result = (node(state, x) for x in ("a5.3", "a9.2.q_in", "a9.2.q", "a9.2"))
    state.edges[sender, q_in] = replace(state.edges[sender, q_in], present=True, pinned=True)
    state.edges[q, result] = replace(state.edges[q, result], present=False)
    live = live_edges(state)
    assert (sender, q_in) not in live
    assert not any(r == q_in for _, r in live) and not any(s == q for s, _ in live)
    # the same edge, kept and on a path, is live; marked dangling by the state, it is not
    state.edges[q, result] = replace(state.edges[q, result], present=True)
    assert (sender, q_in) in live_edges(state)
    state.dangling = {(sender, q_in)}
    assert (sender, q_in) not in live_edges(state)


def test_live_edges_are_exactly_the_present_edges_on_input_to_output_paths(gpt2_state):
    """Checked against networkx on the graph of present edges."""
    import networkx as nx

    graph = gpt2_state.graph
    present = nx.DiGraph([k for k, v in gpt2_state.edges.items() if v.present])
    reached = set().union(*(nx.descendants(present, i) | {i} for i in graph.input_nodes if i in present))
    reaching = nx.ancestors(present, graph.output_node) | {graph.output_node}
    expected = {(s, r) for s, r in present.edges if s in reached and r in reaching}
    assert live_edges(gpt2_state) == expected and 1000 < len(expected) < 5000


# ---- paths ----


def test_strongest_paths_are_exact():
    state = gpt2_circuit_state(keep=0.04, seed=3)
    circuit = kept_circuit(state)
    brute = all_paths(circuit)
    assert len(brute) > 30
    finder = PathFinder(circuit, k=25)
    top = finder.top()
    assert [p.units for p in top] == [units for _, units in brute[:25]]
    assert all(math.isclose(p.strength, s) for p, (s, _) in zip(top, brute))
    unit = top[3].units[2]
    through = finder.top(unit)
    expected = [units for _, units in brute if unit in units][:25]
    assert [p.units for p in through] == expected


def test_paths_rank_by_attribution_when_loaded(gpt2_state):
    state = snapshot_of(gpt2_state).state
    state.scores = {e.key: 1.0 / (1 + i) for i, e in enumerate(state.graph.tested_edges)}
    by_delta = PathFinder(kept_circuit(state, Weight.DELTA)).top()
    by_score = PathFinder(kept_circuit(state, Weight.SCORE)).top()
    assert {p.units for p in by_delta} != {p.units for p in by_score}
    page = draw_request(snapshot_of(state), Request(View.PATHS, CircuitOptions(), None, Weight.SCORE, 40, 80, None))
    assert "|attribution|" in page.lines[1]


# ---- the layer matrix ----


def test_layer_matrix_counts_the_live_edges_between_units(gpt2_state):
    circuit = kept_circuit(gpt2_state)
    counts = layer_matrix(gpt2_state, circuit)
    cross = [(s, r) for s, r in circuit.node_edges if unit_label(gpt2_state, s) != unit_label(gpt2_state, r)]
    assert sum(map(sum, counts)) == len(cross)
    l3, l7 = sum(1 for s, r in cross if s.layer == 3 and r.layer == 7 and r != gpt2_state.graph.output_node), counts[4][7]
    assert l3 == l7
    page = draw_request(snapshot_of(gpt2_state), Request(View.MATRIX, CircuitOptions(), None, Weight.DELTA, 40, 80, None))
    assert page.width <= 80
    assert page.lines[2].split()[-1] == "out" and page.lines[3].split()[0] == "in"
    assert set(circuit.units) <= {u for *_, u in page.occurrences}


# ---- readable at GPT-2 scale ----


class CircuitApp(App):
    """The Circuit tab's widget alone, on a given state."""

    def __init__(self, state) -> None:
        super().__init__()
        self.state = state

    def compose(self) -> ComposeResult:
        yield CircuitView(self.state, id="dag")


def _text(app) -> list[str]:
    """The characters the Circuit view shows, line by line (its header included)."""
    view = app.query_one(CircuitView)
    return [view.render_line(y).text for y in range(view.scrollable_content_region.height)]


async def settle(pilot, view) -> None:
    await until(pilot, lambda: view.picture is not None and not view.drawing)
    await pilot.pause(0.05)


@pytest.mark.parametrize("size", [(80, 24), (200, 60), (54, 10)], ids=["80x24", "200x60", "explorer-tab-at-80x24"])
async def test_gpt2_circuit_is_readable(gpt2_state, size):
    app = CircuitApp(gpt2_state)
    async with app.run_test(size=size) as pilot:
        view = app.query_one(CircuitView)
        view.focus()
        await settle(pilot, view)
        # paths: every name of every path on screen is whole (lines wrap at the width)
        assert view.view is View.PATHS and view.dag.width <= size[0]
        shown = _text(app)
        top = PathFinder(kept_circuit(gpt2_state)).top()
        first = " → ".join(top[0].units)
        assert any(first in line for line in shown)
        # the matrix fits 80 columns and names every kept unit
        await pilot.press("v")
        await settle(pilot, view)
        assert view.view is View.MATRIX and view.dag.width <= min(80, view.text_width)
        assert "row: from, column: to" in "\n".join(_text(app))
        # the graph around the output: at most `fan` senders, every label within the screen's width
        await pilot.press("v")
        await settle(pilot, view)
        assert isinstance(view.picture, CircuitPicture) and view.picture.focus == "out"
        senders = [s for s, r in view.dag.edge_cells if r == "out"]
        assert 0 < len(senders) <= CircuitOptions().fan
        assert all(end <= size[0] for _, _, end in view.dag.node_spans.values())
        assert any(view.picture.header.split(":")[0] in line for line in _text(app))


async def test_jump_to_a_unit_shows_paths_through_it(gpt2_state):
    app = CircuitApp(gpt2_state)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(CircuitView)
        view.focus()
        await settle(pilot, view)
        assert view.jump_to("A5.3.q_in") and view.through == "a5.3"
        await settle(pilot, view)
        rows = [line for line in view.lines if line[:3].strip().isdigit()]
        assert rows and all("a5.3" in line for line in rows)
        assert view.selected_node == "a5.3" and any(text == "a5.3" for *_, text in view.dag.occurrences)
        assert not view.jump_to("a99.1")
        await pilot.press("backspace")
        await settle(pilot, view)
        assert view.through is None and not all("a5.3" in line for line in view.lines if line[:3].strip().isdigit())
        # j asks for a name
        await pilot.press("j", *"m3", "enter")
        await settle(pilot, view)
        assert view.through == "m3"


# ---- stable while the run goes on ----


def slowed(task: str, seconds: float):
    """`task`'s experiment, each ACDC step taking at least `seconds` (so the run is seen going)."""
    exp = experiment(task)
    step = exp.run.step

    def slow_step():
        time.sleep(seconds)
        return step()

    exp.run.step = slow_step
    return exp


async def test_the_picture_holds_still_while_the_run_goes_unless_followed(tmp_path, local_runs):
    app = attached_app(slowed("tracr-reverse", 0.03), tmp_path / "r.journal", local_runs, out=tmp_path / "c.json")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.state is not None and app.state.status is not None and bool(app.query("#details")) and app.state.status.mode != "loading")
        view = app.query_one(CircuitView)
        await pilot.press("1", "space")
        await until(pilot, lambda: app.state.status.done >= 5 and app.state.status.mode == RUNNING)
        await pilot.press("u")  # a picture of now
        await settle(pilot, view)
        lines, done = list(view.lines), view.snapshot.done
        await until(pilot, lambda: app.state.status.done >= done + 20)
        await pilot.pause(0.6)  # the redraw timer ticks
        assert app.state.status.mode == RUNNING
        assert view.lines == lines and view.snapshot.done == done  # still
        assert "run at" in view.pinned[0]
        for key in ("v", "v"):  # other views of the same snapshot
            await pilot.press(key)
            await settle(pilot, view)
            assert view.snapshot.done == done
        await pilot.press("l")  # follow: redrawn as the run goes
        await settle(pilot, view)
        followed = view.snapshot.done
        assert followed > done
        await until(pilot, lambda: view.snapshot.done > followed + 10 or app.state.status.mode == FINISHED)
        await pilot.press("l")
        await until(pilot, lambda: app.state.status.mode == FINISHED)
        await pilot.pause(0.6)
        assert view.snapshot.done == app.state.status.done  # finished: the picture shows the end


@pytest.mark.parametrize("task", ["tracr-proportion", "induction"])
async def test_paths_and_matrix_of_a_real_run_name_every_kept_unit(task, tmp_path, local_runs):
    """At 80x24 after a real run: each listed path, whole, on screen; the matrix names every kept unit."""
    app = attached_app(experiment(task), tmp_path / f"{task}.journal", local_runs, out=tmp_path / "c.json")
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.state is not None and app.state.status is not None and bool(app.query("#details")) and app.state.status.mode != "loading")
        await pilot.press("space")
        await until(pilot, lambda: app.state.status.mode == FINISHED, timeout=120)
        view = app.query_one(CircuitView)
        await pilot.press("1")
        await settle(pilot, view)
        circuit = kept_circuit(app.state)
        paths = PathFinder(circuit).top()
        assert paths and view.dag.width <= view.text_width
        joined = "\n".join(line.rstrip() for line in view.lines)
        assert " → ".join(paths[0].units) in joined  # the strongest path, whole
        shown = {text for *_, text in view.dag.occurrences}
        assert all(u in shown for path in paths for u in path.units)  # every name of every path, within the width
        await pilot.press("v")
        await settle(pilot, view)
        assert {text for *_, text in view.dag.occurrences} == set(circuit.units)
        assert view.dag.width <= view.text_width
