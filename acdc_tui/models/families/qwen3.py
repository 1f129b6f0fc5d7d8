"""Qwen3's weights: Llama's layout plus each layer's q_norm and k_norm (RMSNorm over head_dim, one
weight shared by every head), which llama_style copies where the config has use_qk_norm."""

from __future__ import annotations

from acdc_tui.models.config import ModelConfig
from acdc_tui.models.hf_weights import StateDict, llama_style, separate_gate_up, separate_qkv
from acdc_tui.models.rotary import RotaryTable


def convert(hf, cfg: ModelConfig) -> tuple[StateDict, RotaryTable | None]:
    return llama_style(hf, cfg, separate_qkv, separate_gate_up)
