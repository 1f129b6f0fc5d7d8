"""What a task bundles: a model, clean and patch data, metrics, and optionally a ground truth.

A task knows nothing of ACDC; the run asks it for a metric by name and for its data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import EdgeKey
from acdc_tui.core.metrics import Metric
from acdc_tui.models import backend

MetricFactory = Callable[[torch.Tensor], Metric]  # clean logits -> metric


@dataclass
class Task:
    name: str
    source: str  # "builtin" or the task directory
    model: Any  # our hooked transformer (acdc_tui.models.hooked.HookedModel)
    clean: torch.Tensor  # [batch, pos] token ids
    corrupted: torch.Tensor | None  # patch data of the same shape, or None (zero ablation only)
    metrics: dict[str, MetricFactory]
    default_metric: str
    use_pos_embed: bool = False  # separate hook_embed / hook_pos_embed input nodes
    scramble_patch_positions: bool = False  # reference behaviour for tracr tasks
    ground_truth: frozenset[EdgeKey] | None = None
    description: str = ""
    config: dict = field(default_factory=dict)

    def metric(self, name: str | None = None, clean_logits: torch.Tensor | None = None) -> tuple[str, Metric]:
        """The named metric (default the task's), measured against the clean model's outputs
        (`clean_logits` when the caller has them already)."""
        name = name or self.default_metric
        if name not in self.metrics:
            raise UserError(f"unknown metric {name!r} for task {self.name}: choose one of {', '.join(sorted(self.metrics))}")
        return name, Metric.of(self.metrics[name](backend.logits(self.model, self.clean) if clean_logits is None else clean_logits))


def check_tokens(tokens: torch.Tensor, model, what: str) -> torch.Tensor:
    """Token ids must be a 2-D integer tensor that fits the model's vocabulary and context."""
    if not isinstance(tokens, torch.Tensor) or tokens.dtype not in (torch.int64, torch.int32) or tokens.ndim != 2:
        raise UserError(f"{what} must be a 2-D integer tensor [batch, pos], got {getattr(tokens, 'dtype', type(tokens).__name__)} {tuple(getattr(tokens, 'shape', ()))}")
    if tokens.shape[0] == 0:
        raise UserError(f"{what} has no rows (an empty batch {tuple(tokens.shape)}): give at least one sequence")
    if tokens.shape[1] == 0:
        raise UserError(f"{what} has no positions (shape {tuple(tokens.shape)}): give sequences of at least one token")
    cfg = model.cfg
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= cfg.d_vocab):
        raise UserError(f"{what} has token ids outside the model's vocabulary 0..{cfg.d_vocab - 1}: task/model mismatch")
    if tokens.shape[1] > cfg.n_ctx:
        raise UserError(f"{what} has {tokens.shape[1]} positions but the model's context is {cfg.n_ctx}: task/model mismatch")
    return tokens.long().to(cfg.device)
