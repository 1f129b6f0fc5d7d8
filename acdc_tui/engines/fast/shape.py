"""The fast engine's tensor shapes: one flat activation is [batch * positions * d_model] on one device and dtype."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Shape:
    """Sizes, dtype and device of the engine's activations; `flat_size` is one activation's length."""

    batch: int
    n_positions: int
    d_model: int
    d_head: int
    n_heads: int
    dtype: torch.dtype
    device: torch.device

    @property
    def flat_size(self) -> int:
        return self.batch * self.n_positions * self.d_model

    @property
    def rows(self) -> int:
        """Batch x positions: the rows of one activation seen as [rows, d_model]."""
        return self.batch * self.n_positions

    def flat(self, x: torch.Tensor) -> torch.Tensor:
        """[batch, pos, d_model] (or broadcastable) -> [flat_size] on the engine's device and dtype."""
        return x.to(self.device, self.dtype).expand(self.batch, self.n_positions, self.d_model).reshape(-1)

    def per_head(self, t: torch.Tensor) -> torch.Tensor:
        """[B, P, heads, d] -> [H, B*P*d], k/v rows padded to one per query head."""
        rows = t.permute(2, 0, 1, 3).reshape(t.shape[2], -1).to(self.device, self.dtype)
        if rows.shape[0] == self.n_heads:
            return rows
        return torch.cat([rows, rows.new_zeros(self.n_heads - rows.shape[0], rows.shape[1])])

    def to_device(self, array, dtype: torch.dtype | None = None) -> torch.Tensor:
        """A host array (numpy or a list) on the engine's device. The copy is queued without waiting for
        the device (a blocking copy would synchronise the stream): CUDA stages pageable memory at once."""
        return torch.from_numpy(np.asarray(array)).to(self.device, dtype, non_blocking=True)
