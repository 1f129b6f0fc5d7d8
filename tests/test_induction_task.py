"""The shipped induction model: it does induction, by the known circuit, and ACDC finds it."""

from __future__ import annotations

import torch

import tasks
from tasks.build.train_induction import HALF, half_losses, repeated_sequences
from tasks.induction_task import DEFAULT_THRESHOLD
from tests.helpers import experiment


def _patterns(task):
    _, cache = task.model.run_with_cache(task.clean, names_filter=lambda n: n.endswith("hook_pattern"))
    return [cache[f"blocks.{l}.attn.hook_pattern"] for l in range(task.model.cfg.n_layers)]  # [batch, head, q, k]


def find_heads(task) -> tuple[int, int, float, float]:
    """(previous-token head in layer 0, induction head in layer 1, their attention scores)."""
    p0, p1 = _patterns(task)
    q = torch.arange(1, 2 * HALF + 1)
    prev = p0[:, :, q, q - 1].mean(dim=(0, 2))  # attention to the previous position
    q2 = torch.arange(HALF + 1, 2 * HALF + 1)
    ind = p1[:, :, q2, q2 - HALF + 1].mean(dim=(0, 2))  # to the token after this token's earlier copy
    return int(prev.argmax()), int(ind.argmax()), float(prev.max()), float(ind.max())


def test_the_model_does_induction():
    task = tasks.load_task("induction")
    first, repeated = half_losses(task.model, repeated_sequences(500, torch.Generator().manual_seed(7)))
    assert first > 3.0  # chance on the first half: log(d_vocab - 1)
    assert repeated < 0.1 * first


def test_previous_token_and_induction_heads():
    task = tasks.load_task("induction")
    prev, ind, prev_score, ind_score = find_heads(task)
    assert prev_score > 0.5 and ind_score > 0.5, (prev, ind, prev_score, ind_score)


def test_acdc_keeps_the_previous_token_to_induction_key_edge():
    exp = experiment("induction", threshold=DEFAULT_THRESHOLD, dtype=torch.float32)
    prev, ind, _, _ = find_heads(exp.task)
    list(exp.run.events())
    kept = {(r.edge.sender.name, r.edge.sender.head, r.edge.receiver.name, r.edge.receiver.head) for r in exp.run.records.values() if r.present}
    assert ("blocks.0.attn.hook_result", prev, "blocks.1.hook_k_input", ind) in kept
    assert ("blocks.1.attn.hook_result", ind, "blocks.1.hook_resid_post", None) in kept
    assert exp.run.kept() < exp.run.total  # and it does prune
