"""Rotary position tables (cos, sin), computed in float32 as the model they come from does, then
cast: TransformerLens 3's formula for config-defined models, Hugging Face's `inv_freq` for checkpoints."""

from __future__ import annotations

import torch


class RotaryTable:
    """cos and sin [pos, rotary_dim] for the first `n` positions, cached per length."""

    def __init__(self, rotary_dim: int, base: float = 10000.0, adjacent_pairs: bool = False, scaling_factor: float = 1.0,
                 inv_freq: torch.Tensor | None = None, attention_scaling: float = 1.0) -> None:
        self.rotary_dim, self.base, self.adjacent_pairs = rotary_dim, base, adjacent_pairs
        self.scaling_factor, self.attention_scaling = scaling_factor, attention_scaling
        self.inv_freq = None if inv_freq is None else inv_freq.detach().to("cpu", torch.float32)  # [rotary_dim / 2]
        self._cache: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}

    def _angles(self, n: int) -> torch.Tensor:
        pos = torch.arange(n, dtype=torch.float32)
        if self.inv_freq is not None:  # Hugging Face: positions times inverse frequencies
            half = pos[:, None] * self.inv_freq[None, :]
            return torch.cat([half, half], -1) if not self.adjacent_pairs else half.repeat_interleave(2, -1)
        dim = torch.arange(self.rotary_dim // 2, dtype=torch.float32)  # TransformerLens 3: positions over frequencies
        freq = self.base ** (dim / (self.rotary_dim / 2)) * self.scaling_factor
        freq = freq.repeat_interleave(2) if self.adjacent_pairs else torch.cat([freq, freq])
        return pos[:, None] / freq[None, :]

    def __call__(self, n: int, dtype: torch.dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
        key = (n, dtype, str(device))
        if key not in self._cache:
            with torch.inference_mode(False):  # ordinary tensors, which gradients (attribution) may also read
                angles = self._angles(n)
                cos, sin = angles.cos() * self.attention_scaling, angles.sin() * self.attention_scaling
                self._cache[key] = (cos.to(device, dtype), sin.to(device, dtype))
        return self._cache[key]

    def rotate(self, x: torch.Tensor) -> torch.Tensor:
        """Rotary embedding of x [batch, pos, heads, d_head] (the first rotary_dim features)."""
        n, rd = x.shape[1], self.rotary_dim
        cos, sin = self(n, x.dtype, x.device)
        x_rot, x_pass = x[..., :rd], x[..., rd:]
        flipped = torch.empty_like(x_rot)
        if self.adjacent_pairs:  # GPT-J: rotate each adjacent pair
            flipped[..., ::2], flipped[..., 1::2] = -x_rot[..., 1::2], x_rot[..., ::2]
        else:  # NeoX, Llama: rotate the two halves
            half = rd // 2
            flipped[..., :half], flipped[..., half:] = -x_rot[..., half:], x_rot[..., :half]
        rotated = x_rot * cos[None, :, None] + flipped * sin[None, :, None]
        return torch.cat([rotated, x_pass], -1)
