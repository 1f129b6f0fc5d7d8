"""The plain engine's patching semantics, checked against hand-built hooks on a real model."""

from __future__ import annotations

import torch

from acdc_tui.core.ablation import Ablation
from acdc_tui.core.graph import Node
from acdc_tui.models import backend
from tests.helpers import experiment, head_input_hook

EMBED = Node("blocks.0.hook_resid_pre")


def caches(exp):
    task = exp.task
    names = set(exp.graph.hook_names()) | {"blocks.1.hook_resid_pre"}
    return backend.capture(task.model, task.clean, names), backend.capture(task.model, task.corrupted, names)


def test_no_absent_edge_is_the_clean_model(small_task_dir):
    exp = experiment(task_dir=small_task_dir, engine="plain")
    task = exp.task
    assert torch.equal(exp.run.engine.logits({}), backend.logits(task.model, task.clean))
    assert exp.run.engine.evaluate({}) == 0.0  # KL of the clean model with itself


def test_one_absent_addition_edge_swaps_that_senders_contribution(small_task_dir):
    """embed -> a1.0.q_in absent: head 0's query input is clean resid - clean embed + corrupted embed."""
    exp = experiment(task_dir=small_task_dir, engine="plain")
    clean, corrupt = caches(exp)
    receiver = Node("blocks.1.hook_q_input", 0)
    expected_q_in = clean["blocks.1.hook_resid_pre"] - clean["blocks.0.hook_resid_pre"] + corrupt["blocks.0.hook_resid_pre"]

    expected = backend.logits(exp.task.model, exp.task.clean, [("blocks.1.hook_q_input", head_input_hook(expected_q_in))])
    got = exp.run.engine.logits({receiver: {EMBED}})
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_absent_direct_edge_takes_the_ablated_q(small_task_dir):
    exp = experiment(task_dir=small_task_dir, engine="plain")
    _, corrupt = caches(exp)

    hook = head_input_hook(corrupt["blocks.0.attn.hook_q"][:, :, 1], head=1)
    expected = backend.logits(exp.task.model, exp.task.clean, [("blocks.0.attn.hook_q", hook)])
    got = exp.run.engine.logits({Node("blocks.0.attn.hook_q", 1): {Node("blocks.0.hook_q_input", 1)}})
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_only_output_edges_present_means_every_component_sees_corrupted_inputs(small_task_dir):
    """Every receiver but the output ablated: heads and MLPs compute their corrupted outputs, so the
    final residual is the corrupted one with the clean embedding swapped in."""
    exp = experiment(task_dir=small_task_dir, engine="plain")
    g = exp.graph
    clean, corrupt = caches(exp)
    absent = {r: {e.sender for e in g.incoming[r]} for r in g.nodes if r != g.output_node}
    out = g.output_node.name
    expected_resid = corrupt[out] - corrupt["blocks.0.hook_resid_pre"] + clean["blocks.0.hook_resid_pre"]
    expected = backend.logits(exp.task.model, exp.task.clean, [(out, lambda x, hook: expected_resid)])
    torch.testing.assert_close(exp.run.engine.logits(absent), expected, rtol=1e-9, atol=1e-9)


def test_zero_ablation_removes_the_senders_output(small_task_dir):
    """Zero ablation: a1.1 -> out absent leaves resid_post minus that head's result."""
    exp = experiment(task_dir=small_task_dir, ablation=Ablation.ZERO, engine="plain")
    clean, _ = caches(exp)
    out = exp.graph.output_node.name
    expected_resid = clean[out] - clean["blocks.1.attn.hook_result"][:, :, 1]
    expected = backend.logits(exp.task.model, exp.task.clean, [(out, lambda x, hook: expected_resid)])
    got = exp.run.engine.logits({exp.graph.output_node: {Node("blocks.1.attn.hook_result", 1)}})
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def test_zero_ablation_of_every_edge_is_the_bias_only_model(small_task_dir):
    """With every writer zeroed, the final residual stream holds only the attention output biases."""
    exp = experiment(task_dir=small_task_dir, ablation=Ablation.ZERO, engine="plain")
    g = exp.graph
    absent = {r: {e.sender for e in g.incoming[r]} for r in g.nodes}
    m = exp.task.model
    biases = sum(m.blocks[l].attn.b_O for l in range(m.cfg.n_layers))  # hook_mlp_out includes b_out, so it is zeroed too
    expected_resid = biases.expand(*exp.task.clean.shape, -1)
    expected = backend.logits(m, exp.task.clean, [(g.output_node.name, lambda x, hook: expected_resid)])
    torch.testing.assert_close(exp.run.engine.logits(absent), expected, rtol=1e-9, atol=1e-9)
