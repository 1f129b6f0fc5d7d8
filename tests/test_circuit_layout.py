"""The Circuit tab's reductions: aggregated heads, hidden dead units, focus on a neighbourhood."""

from __future__ import annotations

from dataclasses import replace

import pytest

from acdc_tui.runs.driver import edge_view
from acdc_tui.ui.circuit_layout import CircuitOptions, Scope, UnitGraph, draw_circuit
from acdc_tui.ui.dag_render import render_circuit
from acdc_tui.ui.state import ExplorerState
from tests.helpers import experiment
from tests.scale_states import decided_state, gpt2_graph

EVERY = 10**6  # no limit on the edges drawn per unit


@pytest.fixture(scope="module")
def tracr_state() -> ExplorerState:
    """tracr-reverse's finished circuit (not changed by the tests)."""
    exp = experiment("tracr-reverse")
    list(exp.run.events())
    return ExplorerState(exp.graph, {e.key: edge_view(exp.run, e) for e in exp.graph.edges}, None)


def test_every_hook_point_with_dead_ones_is_the_plain_dag(tracr_state):
    state = tracr_state
    present = state.present_edges()
    picture = draw_circuit(state, CircuitOptions(expand_all=True, show_dead=True), None)
    plain = render_circuit(state.graph, present)
    assert picture.scope is Scope.WHOLE
    assert set(picture.dag.node_spans) == set(plain.node_spans)
    assert set(picture.dag.edge_cells) == set(plain.edge_cells) == {(e.sender.label, e.receiver.label) for e in present}


def test_aggregated_heads_carry_every_edge_between_units(tracr_state):
    state = tracr_state
    picture = draw_circuit(state, CircuitOptions(show_dead=True), None)
    unit = picture.unit_of
    expected = {(unit[e.sender], unit[e.receiver]) for e in state.present_edges() if unit[e.sender] != unit[e.receiver]}
    assert set(picture.dag.edge_cells) == expected
    assert "a3.0" in picture.dag.node_spans and "a3.0.q_in" not in picture.dag.node_spans
    assert unit[next(n for n in state.graph.nodes if n.label == "m2.in")] == "m2"


def cut_off(state: ExplorerState, label: str) -> None:
    """Remove every out-edge of a head's result (its inputs stay as they are)."""
    result = next(n for n in state.graph.nodes if n.label == label)
    for r in state.graph.dag.succ[result]:
        state.edges[result, r] = replace(state.edges[result, r], present=False, decided_by="test")
    state.cells.invalidate(None)


def test_dead_units_are_hidden_and_counted():
    state = decided_state(gpt2_graph(), 2000)
    cut_off(state, "a11.2")  # its q/k/v inputs still read earlier units: present edges into a dead unit
    units = UnitGraph(state, CircuitOptions())
    live = units.reaching_output()
    assert "a11.2" not in live
    sender = next(s for s, r in sorted(units.edges) if r == "a11.2" and s in live)
    focus = units.node_of_unit[sender]
    shown = draw_circuit(state, CircuitOptions(show_dead=True, focus_mode=True, fan=EVERY), focus)
    hidden = draw_circuit(state, CircuitOptions(focus_mode=True, fan=EVERY), focus)
    assert (sender, "a11.2") in shown.dag.edge_cells
    assert set(hidden.dag.edge_cells) == {(s, r) for s, r in shown.dag.edge_cells if s in live and r in live}
    assert "a11.2" not in hidden.dag.node_spans
    dead = {u for e in units.edges for u in e} - live
    assert f"{len(dead)} dead hidden" in hidden.header and "dead hidden" not in shown.header


def present_unit_edges(state, options):
    """The unit edges drawn: those standing for a live hook-point edge (on an input → output path)."""
    units = UnitGraph(state, options)
    return units, units.live


def test_a_gpt2_sized_circuit_is_drawn_around_the_focus():
    state = decided_state(gpt2_graph(), 9000, keep=0.3)
    focus = next(n for n in state.graph.nodes if n.label == "a10.5.k_in")
    picture = draw_circuit(state, CircuitOptions(fan=EVERY), focus)
    units, edges = present_unit_edges(state, CircuitOptions())
    assert len(edges) > CircuitOptions().max_edges and picture.scope is Scope.FOCUS and picture.focus == "a10.5"
    # one hop: exactly the head's present in- and out-edges between live units
    assert set(picture.dag.edge_cells) == {(s, r) for s, r in edges if "a10.5" in (s, r)}
    assert picture.header.startswith(f"around a10.5, 1 hop: {len(picture.dag.edge_cells)} of {len(edges)} edges")
    two = units.neighbourhood("a10.5", 2, units.reaching_output()) & edges
    senders = {s for s, r in edges if r == "a10.5"}
    receivers = {r for s, r in edges if s == "a10.5"}
    assert two == {(s, r) for s, r in edges if r in senders | {"a10.5"} or s in receivers | {"a10.5"}}


def test_focus_falls_back_to_fewer_hops_when_too_many_edges():
    state = decided_state(gpt2_graph(), 9000, keep=0.3)
    focus = next(n for n in state.graph.nodes if n.label == "a11.0")
    picture = draw_circuit(state, CircuitOptions(hops=3, max_edges=200), focus)
    assert "1 hop:" in picture.header and len(picture.dag.edge_cells) <= 200


def test_focus_mode_on_a_small_circuit_and_the_output_by_default(tracr_state):
    state = tracr_state
    picture = draw_circuit(state, CircuitOptions(focus_mode=True), None)
    assert picture.scope is Scope.FOCUS and picture.focus == "out"
    units, edges = present_unit_edges(state, CircuitOptions())
    assert set(picture.dag.edge_cells) == {(s, r) for s, r in edges if r == "out"}


def test_states_of_drawn_units():
    state = decided_state(gpt2_graph(), 2000)
    cut_off(state, "a11.2")
    head = state.cells.map.layers[11].heads[2]
    picture = draw_circuit(state, CircuitOptions(show_dead=True, focus_mode=True, fan=EVERY), head.outputs[0])
    assert picture.states["a11.2"] == "dead"
    assert picture.states["m0"] == "pending" and picture.states["m10"] == "pending"
