"""Llama, Mistral, Qwen2: RMSNorm, rotary positions, gated MLP, grouped-query attention (k/v input
nodes per key/value head), attention then MLP in sequence."""

from __future__ import annotations

from typing import Any, Mapping

NAME = "llama"
MODEL_TYPES = ("llama", "mistral", "qwen2")
SUPPORTED = True


def unsupported(hf: Mapping[str, Any]) -> str | None:
    from acdc_tui.core.architecture.families import get_int

    if hf.get("mlp_bias"):
        return "MLP biases inside the gate (mlp_bias) are missing from our transformer"
    if hf.get("model_type") == "qwen2" and hf.get("use_sliding_window"):
        return "sliding-window attention (use_sliding_window) is missing from our transformer"
    window = hf.get("sliding_window")
    if hf.get("model_type") == "mistral" and window is not None and int(window) < get_int(hf, "max_position_embeddings"):
        return f"sliding-window attention (sliding_window {window}) is missing from our transformer"
    return None


def model_config(hf: Mapping[str, Any]) -> dict[str, Any]:
    from acdc_tui.core.architecture.families import get_int

    d_model, n_heads = get_int(hf, "hidden_size"), get_int(hf, "num_attention_heads")
    return {
        "n_layers": get_int(hf, "num_hidden_layers"),
        "n_heads": n_heads,
        "n_key_value_heads": get_int(hf, "num_key_value_heads", default=n_heads),
        "d_model": d_model,
        "d_head": get_int(hf, "head_dim", default=d_model // n_heads),
        "d_mlp": get_int(hf, "intermediate_size"),
        "d_vocab": get_int(hf, "vocab_size"),
        "n_ctx": get_int(hf, "max_position_embeddings"),
        "act_fn": hf.get("hidden_act", "silu"),
        "eps": float(hf.get("rms_norm_eps", 1e-6)),
        "normalization_type": "RMS",
        "positional_embedding_type": "rotary",
        "gated_mlp": True,
    }
