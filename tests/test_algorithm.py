"""The ACDC step loop on real small models: the threshold rule, skips, stepping, pins, force-prunes."""

from __future__ import annotations

import pytest

from acdc_tui.core.events import EdgeForced, EdgeTested, NodeEntered, NodeSkipped, OverrideApplied, RunFinished, RunStarted, ThresholdChanged, TreeShaken
from acdc_tui.core.graph import EdgeType
from tests.helpers import experiment, final_state

TAU = 0.02


@pytest.fixture(scope="module")
def straight(small_task_dir):
    """A plain run straight through, with its events."""
    exp = experiment(task_dir=small_task_dir, threshold=TAU)
    return exp, list(exp.run.events())


def test_threshold_rule_and_metric_chain(straight):
    exp, events = straight
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    tested = [e for e in events if isinstance(e, EdgeTested)]
    removed = [e for e in tested if e.removed]
    assert 0 < len(removed) < len(tested)  # a τ that both keeps and removes edges
    current = events[0].initial_metric
    for ev in tested:
        assert ev.old_metric == current
        assert ev.delta == ev.new_metric - ev.old_metric and ev.score == ev.delta
        assert ev.removed == (ev.delta < TAU)
        current = ev.new_metric if ev.removed else ev.old_metric
        assert ev.current_metric == current
    assert exp.run.current_metric == current == exp.run.engine.evaluate(exp.run.absent)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


def test_every_edge_is_decided_once_and_progress_adds_up(straight):
    exp, events = straight
    run = exp.run
    tested_type = [r for r in run.records.values() if r.edge.tested]
    assert all(r.decided_by in ("test", "skipped") for r in tested_type)
    assert events[-1].kept == run.kept() == sum(r.present for r in tested_type)
    progress = [e for e in events if isinstance(e, (EdgeTested, NodeSkipped))]
    assert progress[-1].done == run.total == len(tested_type)
    assert sum(isinstance(e, EdgeTested) for e in events) == sum(r.decided_by == "test" for r in tested_type)


def test_skipped_nodes_fed_nothing(small_task_dir):
    """The reference's rule: a receiver with no remaining outgoing edge loses its inputs untested."""
    exp = experiment(task_dir=small_task_dir, threshold=0.05)
    run, skipped = exp.run, 0
    while not run.finished:
        ev = run.step()
        if isinstance(ev, NodeSkipped):
            skipped += 1
            assert not any(run.is_present(e) for e in exp.graph.outgoing(ev.node))
            assert not any(run.is_present(e) for e in exp.graph.incoming[ev.node])
    assert skipped > 0


def test_visiting_follows_the_graph_order(straight):
    exp, events = straight
    visited = [e.node for e in events if isinstance(e, (NodeEntered, NodeSkipped))]
    assert visited == exp.graph.nodes
    order = [e.edge for e in events if isinstance(e, EdgeTested)]
    expected = [e for e in exp.graph.edges if e in set(order)]
    assert order == expected


def test_stepping_then_continuing_equals_running_straight(straight, small_task_dir):
    exp, _ = straight
    stepped = experiment(task_dir=small_task_dir, threshold=TAU)
    run = stepped.run
    for _ in range(7):
        run.step_edge()
    for _ in range(3):
        run.step_node()
    for _ in range(5):
        run.step()
    list(run.events())
    assert final_state(stepped) == final_state(exp)


def test_pin_keeps_an_edge_the_plain_run_removes(straight, small_task_dir):
    exp, events = straight
    victim = next(e.edge for e in events if isinstance(e, EdgeTested) and e.removed and e.seq > 20)
    pinned = experiment(task_dir=small_task_dir, threshold=TAU)
    pinned.run.pin(victim)
    evs = list(pinned.run.events())
    assert isinstance(evs[0], OverrideApplied) and not evs[0].live
    ev = next(e for e in evs if isinstance(e, EdgeTested) and e.edge == victim)
    assert ev.pinned and not ev.removed and ev.score < TAU
    rec = pinned.run.records[victim.key]
    assert rec.present and rec.pinned and rec.tested_present is False
    # everything decided before the pin took effect is unchanged
    before = {k: v for k, v in final_state(exp).items() if exp.run.records[k].seq and exp.run.records[k].seq < ev.seq - 1}
    assert all(final_state(pinned)[k] == v for k, v in before.items())


def test_force_prune_removes_an_edge_the_plain_run_keeps(straight, small_task_dir):
    exp, events = straight
    victim = next(e.edge for e in events if isinstance(e, EdgeTested) and not e.removed and e.edge.type is EdgeType.ADDITION)
    forced = experiment(task_dir=small_task_dir, threshold=TAU)
    forced.run.force_prune(victim)
    evs = list(forced.run.events())
    ev = next(e for e in evs if isinstance(e, EdgeForced))
    assert ev.edge == victim and ev.delta >= TAU
    assert not any(isinstance(e, EdgeTested) and e.edge == victim for e in evs)
    assert not forced.run.is_present(victim) and forced.run.records[victim.key].decided_by == "forced"


def test_live_override_recomputes_the_metric_and_clear_restores(small_task_dir):
    exp = experiment(task_dir=small_task_dir, threshold=TAU)
    run = exp.run
    removed = None
    while removed is None:
        ev = run.step()
        if isinstance(ev, EdgeTested) and ev.removed:
            removed = ev.edge
    before = run.current_metric
    run.pin(removed)
    ev = run.step()
    assert isinstance(ev, OverrideApplied) and ev.live and ev.present and ev.old_metric == before
    assert run.current_metric == run.engine.evaluate(run.absent) != before
    run.clear_override(removed)
    ev = run.step()
    assert ev.live and not ev.present and run.current_metric == before
    list(run.events())
    run.force_prune(removed)  # after the end: nothing to change, still reported
    ev = run.step()
    assert isinstance(ev, OverrideApplied) and not ev.live


def test_stop_and_threshold_commands(small_task_dir):
    exp = experiment(task_dir=small_task_dir, threshold=TAU)
    run = exp.run
    run.step_edge()
    run.set_threshold(0.5)
    assert isinstance(run.step(), ThresholdChanged) and run.threshold == 0.5
    run.step_edge()
    run.stop()
    evs = list(run.events())
    assert isinstance(evs[-1], RunFinished) and not evs[-1].complete
    assert sum(isinstance(e, EdgeTested) for e in evs) <= 1


def test_placeholder_edges_cannot_be_overridden(small_task_dir):
    exp = experiment(task_dir=small_task_dir)
    placeholder = next(e for e in exp.graph.edges if not e.tested)
    with pytest.raises(ValueError, match="placeholder"):
        exp.run.pin(placeholder)


def test_tree_shaking_leaves_only_input_to_output_paths(small_task_dir):
    import networkx as nx

    exp = experiment(task_dir=small_task_dir, threshold=TAU, tree_shaking=True)
    events = list(exp.run.events())
    shaken = next(e for e in events if isinstance(e, TreeShaken))
    assert shaken.removed_edges  # this τ leaves dangling q/k nodes behind
    g = exp.graph.to_networkx(exp.run.present_edges())
    ok = set().union(*(nx.descendants(g, n) | {n} for n in exp.graph.input_nodes)) & (nx.ancestors(g, exp.graph.output_node) | {exp.graph.output_node})
    assert all(e.sender in ok and e.receiver in ok for e in exp.run.present_edges())
    assert shaken.current_metric == exp.run.engine.evaluate(exp.run.absent)


def test_abs_value_threshold_compares_magnitudes(small_task_dir):
    exp = experiment(task_dir=small_task_dir, threshold=TAU, abs_value_threshold=True)
    for ev in exp.run.events():
        if isinstance(ev, EdgeTested):
            assert ev.score == abs(ev.delta) and ev.removed == (abs(ev.delta) < TAU)
