"""GPT-2: LayerNorm, learned positions, attention then MLP in sequence (the reference's shape)."""

from __future__ import annotations

from typing import Any, Mapping

NAME = "gpt2"
MODEL_TYPES = ("gpt2",)
SUPPORTED = True


def unsupported(hf: Mapping[str, Any]) -> str | None:
    if hf.get("add_cross_attention"):
        return "cross-attention layers are missing from the graph"
    return None


def model_config(hf: Mapping[str, Any]) -> dict[str, Any]:
    from acdc_tui.core.architecture.families import get_int

    d_model, n_heads = get_int(hf, "n_embd"), get_int(hf, "n_head")
    return {
        "n_layers": get_int(hf, "n_layer"),
        "n_heads": n_heads,
        "d_model": d_model,
        "d_head": d_model // n_heads,
        "d_mlp": get_int(hf, "n_inner", default=4 * d_model),
        "d_vocab": get_int(hf, "vocab_size"),
        "n_ctx": get_int(hf, "n_positions", "n_ctx"),
        "act_fn": hf.get("activation_function", "gelu_new"),
        "eps": float(hf.get("layer_norm_epsilon", 1e-5)),
        "normalization_type": "LN",
        "use_attn_scale": bool(hf.get("scale_attn_weights", True)),
        "scale_attn_by_inverse_layer_idx": bool(hf.get("scale_attn_by_inverse_layer_idx", False)),
    }
