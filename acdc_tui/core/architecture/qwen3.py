"""Qwen3: Llama's wiring with an explicit head_dim and a per-head RMSNorm on q and on k, applied to
each head's projection before the rotary turn. The norm is inside the head's q (or k) computation,
between its input node and its q (k) node: the `q_input -> q` edge stands for projection + norm, and
`hook_q`/`hook_k` hold the normed values, so the graph is Llama's, unchanged. Sliding windows as
Qwen2's (use_sliding_window, layer_types / max_window_layers)."""

from __future__ import annotations

from typing import Any, Mapping

from acdc_tui.core.architecture.hf_config import dynamic_rope_refusal, llama_style_sizes, qwen_layer_types, sliding_windows

NAME = "qwen3"
MODEL_TYPES = ("qwen3",)
SUPPORTED = True


def unsupported(hf: Mapping[str, Any]) -> str | None:
    return dynamic_rope_refusal(hf)


def model_config(hf: Mapping[str, Any]) -> dict[str, Any]:
    sizes = llama_style_sizes(hf)
    return {**sizes, "use_qk_norm": True, **sliding_windows(sizes["n_layers"], *qwen_layer_types(hf, sizes["n_layers"]))}
