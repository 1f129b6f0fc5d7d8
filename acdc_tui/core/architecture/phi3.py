"""Phi-3: Llama's wiring with fused projections (qkv_proj: query rows, then key rows, then value rows;
gate_up_proj: gate rows, then up rows), split by the conversion, so the graph is Llama's. Partial
rotary (partial_rotary_factor) turns the first rotary_dim features of each head; a sliding window,
when the config sets one, masks every layer (as transformers' create_sliding_window_causal_mask).
Refused: longrope/su scaling (its frequencies switch with the prompt's length)."""

from __future__ import annotations

from typing import Any, Mapping

from acdc_tui.core.architecture.hf_config import dynamic_rope_refusal, llama_style_sizes, rope_parameters, sliding_windows

NAME = "phi3"
MODEL_TYPES = ("phi3",)
SUPPORTED = True


def unsupported(hf: Mapping[str, Any]) -> str | None:
    return dynamic_rope_refusal(hf)


def model_config(hf: Mapping[str, Any]) -> dict[str, Any]:
    sizes = llama_style_sizes(hf)
    factor = float(rope_parameters(hf).get("partial_rotary_factor", 1.0))
    return {**sizes, "rotary_dim": int(sizes["d_head"] * factor), **sliding_windows(sizes["n_layers"], hf.get("sliding_window"))}
