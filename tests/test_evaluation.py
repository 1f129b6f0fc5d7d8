"""Full-model, circuit and empty-circuit metrics: in the circuit JSON and the summary line."""

from __future__ import annotations

import orjson
import pytest

from acdc_tui.core.ablation import Ablation
from acdc_tui.cli.main import main
from acdc_tui.runs.evaluation import circuit_metrics, empty_absent
from acdc_tui.runs.experiment import to_circuit
from tests.helpers import experiment


def test_empty_absent_removes_every_tested_edge_and_no_placeholder():
    exp = experiment("tracr-proportion")
    absent = empty_absent(exp.graph)
    pairs = {(s, r) for r, senders in absent.items() for s in senders}
    assert pairs == {(e.sender, e.receiver) for e in exp.graph.tested_edges}
    assert set(absent) == set(exp.graph.nodes)


@pytest.mark.parametrize("task", ["tracr-reverse", "tracr-proportion"])
@pytest.mark.parametrize("zero_ablation", [True, False])
def test_metrics_are_ordered_full_circuit_empty(task, zero_ablation):
    exp = experiment(task, threshold=1e-3, ablation=Ablation.of(zero_ablation, False))
    list(exp.run.events())
    m = to_circuit(exp, 1.0, complete=True).metrics
    assert m["full"] == 0.0 == m["initial"]
    assert m["circuit"] == m["final"] == exp.run.current_metric
    assert m["empty"] >= m["circuit"] >= m["full"]
    assert m["empty"] > 0  # ablating everything breaks a tracr program


def test_empty_metric_is_one_evaluation_per_experiment():
    exp = experiment("tracr-proportion", threshold=1e-6, ablation=Ablation.ZERO)
    list(exp.run.events())
    real, calls = exp.run.engine.evaluate, []
    exp.run.engine.evaluate = lambda absent: calls.append(1) or real(absent)
    first = circuit_metrics(exp)
    again = to_circuit(exp, 1.0, complete=True).metrics
    assert len(calls) == 1 and first["empty"] == again["empty"]


def test_empty_metric_matches_zero_ablating_every_writer():
    """With zero ablation, the empty circuit is the model with every residual writer zeroed:
    the output is the (zero) embedding's unembedding, so L2 is the mean squared clean output."""
    exp = experiment("tracr-proportion", threshold=1e-6, ablation=Ablation.ZERO)
    from acdc_tui.models import backend

    clean = backend.logits(exp.task.model, exp.task.clean)
    _, metric = exp.task.metric()
    zeros = clean.new_zeros(clean.shape) + exp.task.model.unembed.b_U.detach()  # nothing reaches the unembedding but its bias
    assert circuit_metrics(exp)["empty"] == pytest.approx(float(metric(zeros)), rel=1e-9)


def test_a_stopped_run_saves_without_evaluating_the_empty_circuit():
    exp = experiment("tracr-proportion", threshold=1e-6, ablation=Ablation.ZERO)
    for _ in range(5):
        exp.run.step()
    m = to_circuit(exp, 1.0, complete=False).metrics
    assert m["empty"] is None and m["full"] == 0.0 and m["circuit"] == exp.run.current_metric


def test_metrics_in_the_json_and_the_summary_line(tmp_path, capsys):
    out = tmp_path / "c.json"
    assert main(["run", "--task", "tracr-proportion", "--threshold", "1e-6", "--zero-ablation", "--quiet", "--out", str(out)]) == 0
    data = orjson.loads(out.read_bytes())
    m = data["metrics"]
    assert set(m) == {"initial", "final", "full", "circuit", "empty"}
    assert m["full"] == 0.0 and m["circuit"] == m["final"] and m["empty"] >= m["circuit"] >= m["full"]
    summary = capsys.readouterr().out.splitlines()[-1]
    assert summary.startswith("Summary: kept 10/38 edges; metric 0 -> ")
    assert f"(l2: full model 0, circuit {m['circuit']:.6g}, empty circuit {m['empty']:.6g})" in summary
