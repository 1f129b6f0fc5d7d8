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
