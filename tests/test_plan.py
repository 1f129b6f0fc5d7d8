"""`acdc-tui plan` (issue 19): the graph's size exactly, the JSON keys, and one line when the run will not fit."""

from __future__ import annotations

import json

import pytest

from acdc_tui.cli.main import main
from acdc_tui.core.graph import GraphSpec, build_graph
from tests.conftest import GPT2_SHAPED_CONFIG, write_task_dir


@pytest.fixture(scope="module")
def gpt2_shaped_dir(tmp_path_factory):
    return write_task_dir(tmp_path_factory.mktemp("plan") / "gpt2-shaped", GPT2_SHAPED_CONFIG, seed=4, batch=3, pos=5)


def _plan(capsys, *args) -> tuple[int, dict | None, str]:
    rc = main(["plan", *args])
    out = capsys.readouterr()
    return rc, (json.loads(out.out) if "--json" in args and out.out.strip() else None), out.err


def test_plan_json_counts_gpt2_small_graph_exactly(gpt2_shaped_dir, capsys):
    rc, plan, _ = _plan(capsys, "--task-dir", str(gpt2_shaped_dir), "--json", "--calibrate", "1")
    assert rc == 0
    for key in ("edges_total", "memory_peak_bytes", "seconds_per_tested_edge", "nodes", "layers", "model_bytes", "engine_bytes", "fits"):
        assert key in plan
    assert plan["edges_total"] == 33367 and plan["edges_tested"] == 32923  # GPT-2 small's graph (README)
    assert sum(layer["edges"] for layer in plan["layers"].values()) == plan["edges_tested"]
    assert plan["fits"] is True and plan["advice"] is None
    assert plan["memory_peak_bytes"] > plan["model_bytes"] > 0
    assert plan["seconds_per_tested_edge"] > 0 and plan["seconds_all_edges"] == pytest.approx(plan["seconds_per_tested_edge"] * 32923)
    lo, hi = plan["seconds_typical"]
    assert 0 < lo < hi <= plan["seconds_all_edges"]


def test_typical_range_runs_from_the_cheapest_layer_to_each_layers_own_cost():
    from acdc_tui.runs.cost import typical_range

    layers = {1: {"edges": 100, "receivers": 5, "seconds_per_tested_edge": 0.5}, 0: {"edges": 20, "receivers": 5, "seconds_per_tested_edge": 2.0},
              -1: {"edges": 0, "receivers": 0}}
    low, high = typical_range(layers)
    assert low == pytest.approx((15 + 15) * 0.5)  # 3 tests per receiver, at the cheapest layer's cost
    assert high == pytest.approx(60 * 0.5 + 20 * 2.0)  # 12 per receiver, at most the layer's edges, each at its own cost
    assert typical_range({}) == (0.0, 0.0)


def test_calibration_spans_the_model_first_and_interpolates_what_the_budget_left_out(gpt2_shaped_dir, capsys):
    from acdc_tui.runs.cost import bisection_order, interpolate

    order = bisection_order(list(range(11, -1, -1)))
    assert order[:3] == [11, 0, 6] and sorted(order) == list(range(12))
    assert interpolate({11: 1.0, 0: 12.0}, list(range(12))) == {layer: pytest.approx(12.0 - layer) for layer in range(12)}
    assert interpolate({5: 2.0}, [7, 5, 3]) == {7: 2.0, 5: 2.0, 3: 2.0}
    rc, plan, _ = _plan(capsys, "--task-dir", str(gpt2_shaped_dir), "--json", "--calibrate", "1")
    timed = {int(layer) for layer, row in plan["layers"].items() if row.get("timed")}
    assert {0, 11} <= timed  # the top and bottom layers are always timed; the rest within the budget


def test_plan_edge_count_matches_the_graph(small_task_dir, capsys):
    import orjson

    config = orjson.loads((small_task_dir / "config.json").read_bytes())
    from acdc_tui.models.backend import build_model

    graph = build_graph(GraphSpec.from_config(build_model(config, None).cfg))
    rc, plan, _ = _plan(capsys, "--task-dir", str(small_task_dir), "--json", "--calibrate", "1")
    assert rc == 0
    assert (plan["nodes"], plan["edges_total"], plan["edges_tested"]) == (len(graph.nodes), len(graph.edges), len(graph.tested_edges))


def test_plan_that_does_not_fit_says_so_in_one_line(small_task_dir, capsys):
    rc, _, err = _plan(capsys, "--task-dir", str(small_task_dir), "--memory-limit", "1KiB")
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert "will not fit" in lines[0] and "what would" in lines[0] and "--prefilter" in lines[0]


def test_plan_memory_limit_from_the_environment(small_task_dir, capsys, monkeypatch):
    monkeypatch.setenv("ACDC_TUI_MEMORY_LIMIT", "1KiB")
    rc, plan, _ = _plan(capsys, "--task-dir", str(small_task_dir), "--json")
    assert rc == 1 and plan["fits"] is False and plan["memory_available_source"] == "$ACDC_TUI_MEMORY_LIMIT"
    assert plan["advice"].startswith("will not fit")


def test_plan_bad_memory_limit_is_one_line(small_task_dir, capsys):
    assert main(["plan", "--task-dir", str(small_task_dir), "--memory-limit", "lots"]) == 2
    assert "is not a size" in capsys.readouterr().err
