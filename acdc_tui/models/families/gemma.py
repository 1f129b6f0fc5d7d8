"""Gemma's weights: Llama's layout; every RMSNorm scales by 1 + w, stored as 1 + w (in float64). The
embedding's √d_model scale is our config's embed_scale, applied in the forward pass as transformers does."""

from __future__ import annotations

from acdc_tui.models.config import ModelConfig
from acdc_tui.models.hf_weights import StateDict, llama_style, separate_gate_up, separate_qkv
from acdc_tui.models.rotary import RotaryTable


def convert(hf, cfg: ModelConfig) -> tuple[StateDict, RotaryTable | None]:
    return llama_style(hf, cfg, separate_qkv, separate_gate_up, one_plus=True)
