"""Llama, Mistral, Qwen2: RMSNorm, rotary positions (any fixed rope scaling, Llama-3's included: the
table is the checkpoint's own), gated MLP, grouped-query attention (k/v input nodes per key/value
head), attention then MLP in sequence. Sliding windows (Mistral's on every layer; Qwen2's with
use_sliding_window, on the layers `layer_types` or max_window_layers name) are attention masks."""

from __future__ import annotations

from typing import Any, Mapping

from acdc_tui.core.architecture.hf_config import dynamic_rope_refusal, llama_style_sizes, qwen_layer_types, sliding_windows

NAME = "llama"
MODEL_TYPES = ("llama", "mistral", "qwen2")
SUPPORTED = True


def unsupported(hf: Mapping[str, Any]) -> str | None:
    if hf.get("mlp_bias"):
        return "MLP biases inside the gate (mlp_bias) are missing from our transformer"
    return dynamic_rope_refusal(hf)


def model_config(hf: Mapping[str, Any]) -> dict[str, Any]:
    sizes = llama_style_sizes(hf)
    if hf.get("model_type") == "qwen2":
        windows = sliding_windows(sizes["n_layers"], *qwen_layer_types(hf, sizes["n_layers"]))
    elif hf.get("model_type") == "mistral":
        windows = sliding_windows(sizes["n_layers"], hf.get("sliding_window"))
    else:
        windows = {}
    return {**sizes, **windows}
