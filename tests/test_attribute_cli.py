"""`acdc-tui attribute`: scores JSON for every tested edge (read back keyed by our edge keys), the
comparison with an ACDC circuit (rank correlation, top-k overlap, disagreements), refusals in one
line; the comparison's statistics on hand-made examples."""

from __future__ import annotations

import math

import orjson
import pytest
import torch

import tasks
from acdc_tui.core.ablation import Ablation
from acdc_tui.analysis.attribution import Outcome, compare, outcomes_of_circuit, spearman, top_k
from acdc_tui.cli.main import main
from acdc_tui.core.graph import GraphSpec, build_graph
from acdc_tui.engines.attribution import Method
from acdc_tui.io.circuit import read_circuit
from acdc_tui.io.scores import read_scores
from acdc_tui.runs.prefilter import task_attribution
from tests.hf_families import write_checkpoint, write_tokens



def test_spearman_on_hand_made_ranks():
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)  # 1 - 6·2 / (4·15)
    assert spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(1.5 / math.sqrt(3))  # ties share rank 1.5
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([5, 5, 5], [1, 2, 3]) is None and spearman([1], [1]) is None


def test_compare_counts_kept_edges_outside_the_top_k():
    scores = {"a": 0.9, "b": -0.8, "c": 0.1, "d": 0.05, "e": 0.0}
    outcomes = [Outcome("a", 1.0, True), Outcome("b", None, False), Outcome("c", 0.2, True), Outcome("d", 0.01, False), Outcome("e", 0.5, True)]
    c = compare(scores, outcomes)
    assert top_k(scores, 3) == ["a", "b", "c"]
    assert (c.kept, c.outside_top_k, c.measured) == (3, 1, 4)  # e (rank 5) is kept but outside the top 3
    assert c.disagreement == {"a": 0, "b": 2 / 5, "c": 0, "d": 0, "e": 2 / 5}  # b: removed, rank 2 of top 3 (k - r + 1); e: kept, rank 5 (r - k)
    assert c.spearman == pytest.approx(spearman([0.9, 0.1, 0.05, 0.0], [1.0, 0.2, 0.01, 0.5]))


def test_scores_file_has_every_tested_edge_and_reads_back(tmp_path, capsys):
    out = tmp_path / "scores.json"
    assert main(["attribute", "--task", "tracr-reverse", "--method", "eap-ig", "--out", str(out), "--dtype", "float64", "--top", "3"]) == 0
    text = capsys.readouterr().out
    assert "eap-ig (5 steps) on tracr-reverse, metric l2: 106 tested edges scored" in text and f"scores written to {out}" in text
    data = orjson.loads(out.read_bytes())
    assert data["schema"] == "acdc-tui.scores" and data["settings"]["method"] == "eap-ig" and data["settings"]["steps"] == 5
    assert sorted(e["rank"] for e in data["scores"]) == list(range(1, 107))
    scores = read_scores(out)
    task = tasks.load_task("tracr-reverse", None, "cpu", torch.float64)
    graph = build_graph(GraphSpec.from_config(task.model.cfg, use_pos_embed=task.use_pos_embed))
    want = task_attribution(task, graph, "l2", Method.EAP_IG, Ablation.CORRUPTED).scores
    assert list(scores.scores) == [e.key for e in graph.tested_edges]  # keyed like Edge.key, in graph order
    assert all(scores.scores[e.key] == pytest.approx(want[e.key], rel=1e-12, abs=1e-15) for e in graph.tested_edges)
    best = max(scores.scores, key=lambda k: abs(scores.scores[k]))
    assert scores.ranks()[best] == 1 and f"{best[0].label} -> {best[1].label}" in text


def test_compare_with_an_acdc_circuit(tmp_path, capsys):
    circuit = tmp_path / "c.json"
    assert main(["run", "--task", "induction", "--threshold", "0.1", "--out", str(circuit), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["attribute", "--task", "induction", "--out", str(tmp_path / "s.json"), "--compare", str(circuit)]) == 0
    text = capsys.readouterr().out
    c = compare(read_scores(tmp_path / "s.json").scores, outcomes_of_circuit(read_circuit(circuit)))
    assert c.kept == 55 and 0.3 < c.spearman < 1
    assert f"Spearman rank correlation of |score| and |Δ|: {c.spearman:.3f} over {c.measured} measured edges" in text
    assert f"{c.outside_top_k} of the 55 edges ACDC kept fall outside attribution's top 55" in text


def test_eap_on_a_metric_flat_at_the_clean_run_warns(tmp_path, capsys):
    assert main(["attribute", "--task", "induction", "--method", "eap", "--out", str(tmp_path / "s.json")]) == 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("acdc-tui: warning: every EAP score is zero up to rounding: metric 'kl' is flat on the clean run") and "\n" not in err
    assert read_scores(tmp_path / "s.json").summary["vanishing"] is True
    assert main(["attribute", "--task", "induction", "--method", "eap", "--metric", "nll", "--out", str(tmp_path / "s.json")]) == 0
    assert capsys.readouterr().err == "" and read_scores(tmp_path / "s.json").summary["vanishing"] is False


def test_attribute_a_grouped_query_checkpoint(tmp_path, capsys):
    d = tmp_path / "llama"
    write_checkpoint(d, "llama")
    write_tokens(d)
    assert main(["attribute", "--task-dir", str(d), "--out", str(tmp_path / "s.json"), "--mean-ablation"]) == 0
    scores = read_scores(tmp_path / "s.json")
    assert scores.settings["mean_ablation"] is True and any(k[1].kind == "k_input" for k in scores.scores)


def test_refusals_are_one_line(tmp_path, capsys):
    other = tmp_path / "other.json"
    assert main(["run", "--task", "tracr-proportion", "--threshold", "0.1", "--out", str(other), "--quiet"]) == 0
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    cases = [
        (["--method", "shap"], "unknown attribution method 'shap'"),
        (["--steps", "0"], "at least one interpolation step"),
        (["--compare", str(other)], "the circuit was found on another model"),
        (["--compare", str(bad)], "is not an acdc-tui circuit file"),
        (["--zero-ablation", "--mean-ablation"], "exclude each other"),
    ]
    for extra, needle in cases:
        capsys.readouterr()
        assert main(["attribute", "--task", "tracr-reverse", "--out", str(tmp_path / "s.json"), *extra]) == 2, extra
        err = capsys.readouterr().err.strip()
        assert err.startswith("acdc-tui: error: ") and needle in err and "\n" not in err, (extra, err)
    with pytest.raises(Exception, match="not an acdc-tui scores file"):
        read_scores(bad)


def test_mean_ablation_on_the_command_line(tmp_path, capsys):
    out = tmp_path / "c.json"
    assert main(["run", "--task", "tracr-proportion", "--threshold", "0.01", "--mean-ablation", "--out", str(out), "--quiet"]) == 0
    circuit = read_circuit(out)
    assert circuit.settings["mean_ablation"] is True and circuit.settings["zero_ablation"] is False
    corrupted = tmp_path / "d.json"
    assert main(["run", "--task", "tracr-proportion", "--threshold", "0.01", "--out", str(corrupted), "--quiet"]) == 0
    assert circuit.metrics["empty"] != read_circuit(corrupted).metrics["empty"]  # another ablation, another empty circuit
    capsys.readouterr()
    assert main(["run", "--task", "tracr-proportion", "--threshold", "0.01", "--mean-ablation", "--zero-ablation", "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == "acdc-tui: error: --zero-ablation and --mean-ablation exclude each other: choose one ablation"
