"""What one forward pass reads besides the reference state, fixed once the engine is set up."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from acdc_tui.core.metrics import MetricFunction
from acdc_tui.engines.fast.ablated import Ablated
from acdc_tui.engines.fast.layout import Layout
from acdc_tui.engines.fast.shape import Shape
from acdc_tui.engines.fast_forward import Weights


@dataclass(frozen=True, eq=False)
class Parts:
    """The weights, shapes, layout and ablated values; the metric on logits at the read positions
    (`read`, `read_positions`); which q/k/v rows exist (`valid_rows`, [3, heads]), query heads per
    key/value head (`group`) and the shortformer position term for q and k (`pos_qk`, or None)."""

    weights: Weights
    shape: Shape
    layout: Layout
    ablated: Ablated
    read: MetricFunction
    read_positions: torch.Tensor
    valid_rows: np.ndarray
    group: int
    pos_qk: torch.Tensor | None

    def at_positions(self, deltas: torch.Tensor) -> torch.Tensor:
        """[n_senders, N] -> [n_senders, the read positions' part of N]."""
        shape, n_senders = self.shape, self.layout.n_senders
        return deltas.view(n_senders, shape.batch, shape.n_positions, shape.d_model)[:, :, self.read_positions].reshape(n_senders, -1)
