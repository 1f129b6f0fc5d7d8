"""Llama, Mistral and Qwen2's weights (q/k/v biases where the checkpoint has them)."""

from __future__ import annotations

from acdc_tui.models.config import ModelConfig
from acdc_tui.models.hf_weights import StateDict, llama_style, separate_gate_up, separate_qkv
from acdc_tui.models.rotary import RotaryTable


def convert(hf, cfg: ModelConfig) -> tuple[StateDict, RotaryTable | None]:
    return llama_style(hf, cfg, separate_qkv, separate_gate_up)
