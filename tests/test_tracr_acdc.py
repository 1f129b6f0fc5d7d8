"""Zero-ablation ACDC with the L2 metric at a small τ recovers the canonical tracr circuits exactly."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import experiment
from acdc_tui.core.ablation import Ablation


@pytest.mark.parametrize("task", ["tracr-reverse", "tracr-proportion"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_recovers_the_canonical_circuit(task, dtype):
    exp = experiment(task, dtype=dtype, threshold=1e-6, ablation=Ablation.ZERO)
    list(exp.run.events())
    found = {(r.edge.sender.name, r.edge.sender.head, r.edge.receiver.name, r.edge.receiver.head) for r in exp.run.records.values() if r.present}
    assert found == exp.task.ground_truth
    assert exp.run.current_metric < 1e-6


def test_ground_truth_edges_exist_in_the_graph():
    for task in ("tracr-reverse", "tracr-proportion"):
        exp = experiment(task)
        keys = {(e.sender.name, e.sender.head, e.receiver.name, e.receiver.head) for e in exp.graph.edges}
        assert exp.task.ground_truth <= keys


def test_corrupted_ablation_runs_and_keeps_the_output_head():
    """With corrupted activations (the default) the final head that writes the answer is always kept."""
    exp = experiment("tracr-reverse", threshold=0.01)
    list(exp.run.events())
    out = exp.graph.output_node
    kept_into_out = {r.edge.sender.label for r in exp.run.records.values() if r.present and r.edge.receiver == out}
    assert "a3.0" in kept_into_out
