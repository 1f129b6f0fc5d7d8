"""Task metrics. ACDC minimises the metric, so each is 0 (or its minimum) on the clean model.

A metric factory takes the clean model's logits (and task-specific options) and returns the
metric: patched logits -> scalar tensor. Tasks name which factories they support.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F

Metric = Callable[[torch.Tensor], torch.Tensor]
Positions = Sequence[int] | None  # None: every position


def _reads(metric, positions: Positions, on_selected: Callable[[torch.Tensor], torch.Tensor]):
    """Record which positions `metric` reads (`metric.positions`, None: all) and the same metric on
    logits already cut down to them (`metric.on_selected(logits[:, positions])`, same value), so an
    engine can unembed only those positions."""
    metric.positions = None if positions is None else tuple(int(p) for p in positions)
    metric.on_selected = on_selected
    return metric


def select_positions(x: torch.Tensor, positions: Positions) -> torch.Tensor:
    """[batch, pos, ...] -> [batch, len(positions), ...]."""
    return x if positions is None else x[:, list(positions)]


def kl_divergence(clean_logits: torch.Tensor, positions: Positions = (-1,)) -> Metric:
    """The reference's `kl_divergence`: KL(clean || patched) of the next-token distributions,
    summed over the vocabulary, averaged over batch (and positions)."""
    base = F.log_softmax(select_positions(clean_logits, positions), dim=-1)

    def on_selected(selected: torch.Tensor) -> torch.Tensor:
        logprobs = F.log_softmax(selected, dim=-1)
        return F.kl_div(logprobs, base, log_target=True, reduction="none").sum(dim=-1).mean()

    def metric(logits: torch.Tensor) -> torch.Tensor:
        return on_selected(select_positions(logits, positions))

    return _reads(metric, positions, on_selected)


def l2(clean_logits: torch.Tensor, positions: Positions = None, output_dim: int | None = None) -> Metric:
    """The reference's tracr `l2_metric`: mean squared difference to the clean outputs.

    `positions` are the positions compared (tracr: all but BOS); `output_dim` picks one output
    (tracr-proportion reads its numerical answer from output 0)."""

    def pick(x: torch.Tensor) -> torch.Tensor:
        return x if output_dim is None else x[..., output_dim]

    base = pick(select_positions(clean_logits, positions))

    def on_selected(selected: torch.Tensor) -> torch.Tensor:
        return ((pick(selected) - base) ** 2).mean()

    def metric(logits: torch.Tensor) -> torch.Tensor:
        return on_selected(select_positions(logits, positions))

    return _reads(metric, positions, on_selected)


# ------------------------------------------------------------ answer metrics ------------------------------------------------------------

ANSWER_METRICS = ("logit_diff", "prob_diff", "nll")  # every one on the last position; sign: lower is better


def _mean_over(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """[batch, k] -> [batch]: the mean over each row's valid entries (mask 1) of a ragged list."""
    if mask is None:
        return values.mean(dim=-1)
    mask = mask.to(device=values.device, dtype=values.dtype)
    return (values * mask).sum(dim=-1) / mask.sum(dim=-1)


def _columns(ids: torch.Tensor) -> torch.Tensor:
    return ids[:, None] if ids.ndim == 1 else ids


def answer_metric(clean_logits: torch.Tensor, kind: str, answers: torch.Tensor, wrong: torch.Tensor | None = None,
                  answer_mask: torch.Tensor | None = None, wrong_mask: torch.Tensor | None = None) -> Metric:
    """A metric of the answer tokens at the last position, signed so that ACDC minimises it (lower is
    better), the same convention as the hub tasks' `logit_diff` (the reference's IOI metric, negated):

    * logit_diff: -(logit[answer] - logit[wrong]), averaged over rows;
    * prob_diff:  -(p[answer] - p[wrong]), with p the softmax at the last position, averaged over rows;
    * nll:        -log p[answer], averaged over rows.

    `answers` and `wrong` are token ids [batch] or [batch, k]; with k > 1 a row's value uses the mean
    over its answers (and the mean over its distractors): -(mean_i logit[a_i] - mean_j logit[w_j]).
    Rows may have different numbers of them: the masks ([batch, k], 1 = present) say which columns count.
    None of these is 0 on the clean model; the full model's value is in the circuit file."""
    if kind not in ANSWER_METRICS:
        raise ValueError(f"unknown answer metric {kind!r}")
    if kind != "nll" and wrong is None:
        raise ValueError(f"{kind} needs distractor tokens")
    answers = _columns(answers)
    wrong = None if wrong is None else _columns(wrong)

    def on_selected(selected: torch.Tensor) -> torch.Tensor:
        last = selected[:, -1]
        if kind == "logit_diff":
            scores = last
        elif kind == "prob_diff":
            scores = F.softmax(last, dim=-1)
        else:
            scores = F.log_softmax(last, dim=-1)
        right = _mean_over(scores.gather(-1, answers.to(last.device)), answer_mask)
        if kind == "nll":
            return -right.mean()
        return -(right - _mean_over(scores.gather(-1, wrong.to(last.device)), wrong_mask)).mean()

    def metric(logits: torch.Tensor) -> torch.Tensor:
        return on_selected(select_positions(logits, (-1,)))

    return _reads(metric, (-1,), on_selected)
