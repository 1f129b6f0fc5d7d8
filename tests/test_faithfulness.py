"""MIB faithfulness: f per circuit, CPR and CMD by trapezoids (hand-computed cases), in the sweep JSON
(schema version 2; version 1 still reads) and the report; sweeps over attribution's top k."""

from __future__ import annotations

import io

import orjson
import pytest

from acdc_tui.core.ablation import Ablation
from acdc_tui.analysis.faithfulness import curve, faithfulness
from acdc_tui.analysis.sweep import format_report, read_sweep, run_sweep, sweep_to_json
from acdc_tui.analysis.topk import MIB_FRACTIONS, run_topk_sweep
from acdc_tui.cli.main import main
from acdc_tui.engines.attribution import Method
from acdc_tui.engines.plain import PlainEngine
from acdc_tui.runs.evaluation import empty_absent
from acdc_tui.runs.prefilter import task_attribution
from tests.helpers import experiment


def test_areas_by_hand():
    # full 0, empty 1 (a metric to minimise), 10 tested edges: f 0.5 at x 0.2, f 1 at x 0.5
    c = curve([(2, 0.5), (5, 0.0)], 10, full=0.0, empty=1.0)
    assert [p.faithfulness for p in c.points] == [0.5, 1.0] and [p.edge_fraction for p in c.points] == [0.2, 0.5]
    # trapezoids from (0, 0) through the points to (1, 1)
    assert c.cpr == pytest.approx(0.2 * 0.25 + 0.3 * 0.75 + 0.5 * 1.0)
    assert c.cmd == pytest.approx(0.2 * 0.75 + 0.3 * 0.25 + 0.0)
    # a circuit better than the model (f > 1) counts against CMD on both sides of 1
    over = curve([(5, -0.5)], 10, full=0.0, empty=1.0)
    assert over.points[0].faithfulness == 1.5
    assert over.cmd == pytest.approx(0.5 * (1 + 0.5) / 2 + 0.5 * (0.5 + 0) / 2)
    assert faithfulness(3.0, full=4.0, empty=2.0) == 0.5  # a metric to maximise: the same f
    assert curve([(1, 0.5)], 10, 1.0, 1.0).note.startswith("no faithfulness: the full model and the empty circuit have the same metric")
    assert curve([(1, None)], 10, 0.0, 1.0).cpr is None


def test_sweep_json_version_2_carries_faithfulness(tmp_path):
    exp = experiment("tracr-reverse", threshold=1.0)
    result = run_sweep(exp, [1.0, 0.01], stderr=io.StringIO())
    data = sweep_to_json(result)
    assert data["schema_version"] == 2 and data["settings"]["sweep_over"] == "threshold"
    full, empty = data["metrics"]["full"], data["metrics"]["empty"]
    for p in data["points"]:
        assert p["faithfulness"] == pytest.approx((p["metric"] - empty) / (full - empty))
        assert p["edge_fraction"] == p["edges_kept"] / 106
    assert [p["faithfulness"] for p in data["points"]] == [0.0, 1.0]  # nothing kept; the 9-edge circuit
    c = result.faithfulness()
    assert data["faithfulness"] == {"cpr": c.cpr, "cmd": c.cmd, "note": None} and data["summary"]["cpr"] == c.cpr
    assert c.cpr == pytest.approx(1 - 9 / 106 / 2) and c.cmd == pytest.approx(9 / 106 / 2)
    report = format_report(result, ascii=True)
    assert f"faithfulness (MIB): CPR (area under f) {c.cpr:.4f}, CMD (area under |1 - f|) {c.cmd:.4f}" in report
    v1 = {**data, "schema_version": 1}
    (tmp_path / "v1.json").write_bytes(orjson.dumps(v1))
    assert read_sweep(tmp_path / "v1.json")["schema_version"] == 1


def test_a_top_k_sweep_evaluates_the_top_k_circuits():
    exp = experiment("tracr-proportion", threshold=0.0)
    scores = task_attribution(exp.task, exp.graph, exp.metric_name, Method.EAP_IG, Ablation.CORRUPTED).scores
    result = run_topk_sweep(exp, scores, {"method": "eap-ig", "steps": 5}, stderr=io.StringIO())
    n = len(exp.graph.tested_edges)
    assert [p.edges_kept for p in result.points] == [int(f * n) for f in MIB_FRACTIONS]
    plain = PlainEngine(exp.task.model, exp.graph, exp.task.clean, exp.task.corrupted, exp.task.metric()[1], scramble_positions=exp.task.scramble_patch_positions)
    order = sorted(range(n), key=lambda i: (-abs(scores[exp.graph.tested_edges[i].key]), i))
    for p in result.points:
        absent = empty_absent(exp.graph)
        for i in order[: p.edges_kept]:
            e = exp.graph.tested_edges[i]
            absent[e.receiver].discard(e.sender)
        assert p.metric == pytest.approx(plain.evaluate(absent), rel=1e-5, abs=1e-9)
    assert result.points[-1].metric == pytest.approx(result.full, abs=1e-9) and result.auc is not None
    data = sweep_to_json(result)
    assert data["settings"]["sweep_over"] == "top-k" and data["settings"]["attribution"]["fractions"] == list(MIB_FRACTIONS)
    assert data["faithfulness"]["cpr"] is not None


def test_cli_top_k_sweep(tmp_path, capsys):
    out = tmp_path / "topk.json"
    assert main(["sweep", "--task", "tracr-reverse", "--top-k", "eap-ig", "--fractions", "0.05,0.1,1", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "faithfulness (MIB): CPR" in text and "Summary: 3 top-k circuits in" in text
    data = read_sweep(out)
    assert [p["edges_kept"] for p in data["points"]] == [5, 10, 106]
    for args, needle in ((["--top-k", "eap"], "every EAP score is zero"), (["--top-k", "eap-ig", "--fractions", "0,1"], "above 0 and at most 1"),
                         (["--top-k", "eap-ig", "--journal", "j"], "takes no --journal")):
        assert main(["sweep", "--task", "tracr-reverse", *args, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and "\n" not in err
