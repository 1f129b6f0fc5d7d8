"""GPT-2: LayerNorm, learned positions, attention then MLP in sequence (the reference's shape)."""

from __future__ import annotations

from typing import Any, Mapping

from acdc_tui.core.architecture.hf_config import gpt2_style_sizes

NAME = "gpt2"
MODEL_TYPES = ("gpt2",)
SUPPORTED = True


def unsupported(hf: Mapping[str, Any]) -> str | None:
    if hf.get("add_cross_attention"):
        return "cross-attention layers are missing from the graph"
    return None


def model_config(hf: Mapping[str, Any]) -> dict[str, Any]:
    return {
        **gpt2_style_sizes(hf),
        "use_attn_scale": bool(hf.get("scale_attn_weights", True)),
        "scale_attn_by_inverse_layer_idx": bool(hf.get("scale_attn_by_inverse_layer_idx", False)),
    }
