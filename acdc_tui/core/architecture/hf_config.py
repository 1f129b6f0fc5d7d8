"""Reading a Hugging Face config dict: the helpers every family's wiring file shares (pure: no torch).

Families import this module; it imports no family, so there is no cycle between the registry
(families.py) and the family files.
"""

from __future__ import annotations

from typing import Any, Mapping

from acdc_tui.core.errors import UserError

# rotary scalings whose frequencies depend on the prompt's length at run time (Hugging Face's
# `dynamic_rope_update`); every other rope type is a fixed table, taken from the model itself.
DYNAMIC_ROPE = ("dynamic", "longrope", "su")


def get_int(hf: Mapping[str, Any], *keys: str, default: int | None = None) -> int:
    """The first of `keys` present in the config, as an int."""
    for k in keys:
        if hf.get(k) is not None:
            return int(hf[k])
    if default is None:
        raise UserError(f"the checkpoint's config.json lacks {keys[0]!r}: it must be a complete Hugging Face config")
    return default


def gpt2_style_sizes(hf: Mapping[str, Any]) -> dict[str, Any]:
    """The sizes and LayerNorm settings of a config with GPT-2's key names (GPT-2, GPT-J)."""
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
    }


def llama_style_sizes(hf: Mapping[str, Any]) -> dict[str, Any]:
    """Sizes of a config with Llama's key names (Llama, Mistral, Qwen2/3, Gemma, Phi-3): RMSNorm,
    rotary positions, gated MLP, grouped-query attention, explicit head_dim where given."""
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
        "act_fn": hf.get("hidden_act") or "silu",
        "eps": float(hf.get("rms_norm_eps", 1e-6)),
        "normalization_type": "RMS",
        "positional_embedding_type": "rotary",
        "gated_mlp": True,
    }


def rope_parameters(hf: Mapping[str, Any]) -> dict[str, Any]:
    """transformers 5 keeps rope settings in `rope_parameters`; older configs at the top level."""
    params = dict(hf.get("rope_parameters") or hf.get("rope_scaling") or {})
    for key in ("rope_theta", "partial_rotary_factor"):
        if key not in params and hf.get(key) is not None:
            params[key] = hf[key]
    return params


def rope_type(hf: Mapping[str, Any]) -> str:
    params = rope_parameters(hf)
    return str(params.get("rope_type", params.get("type")) or "default")


def dynamic_rope_refusal(hf: Mapping[str, Any]) -> str | None:
    """One line for a rotary scaling whose table changes with the prompt's length (ours is fixed)."""
    kind = rope_type(hf)
    if kind in DYNAMIC_ROPE:
        return f"rotary scaling {kind!r} changes its frequencies with the prompt's length, which our fixed rotary table does not"
    return None


def sliding_windows(n_layers: int, window: Any, layer_types: list[str] | None = None) -> dict[str, Any]:
    """Per-layer sliding windows as our config's keys (use_local_attn, attn_types, window_size): `window`
    as transformers uses it (None: no window), on the layers `layer_types` marks "sliding_attention"
    (None: every layer, as Mistral and Phi-3 do). {} when no layer slides. Our mask admits the keys
    k with q - window < k <= q, transformers' `sliding_window_overlay` (masking_utils)."""
    if window is None:
        return {}
    types = list(layer_types) if layer_types is not None else ["sliding_attention"] * n_layers
    if len(types) != n_layers:
        raise UserError(f"the checkpoint's config.json has {len(types)} layer_types for {n_layers} layers")
    attn_types = ["local" if t == "sliding_attention" else "global" for t in types]
    if "local" not in attn_types:
        return {}
    return {"use_local_attn": True, "attn_types": attn_types, "window_size": int(window)}


def qwen_layer_types(hf: Mapping[str, Any], n_layers: int) -> tuple[Any, list[str]]:
    """Qwen2/Qwen3's (window, layer types) as transformers derives them: the window only with
    use_sliding_window; without `layer_types`, the layers from max_window_layers (default 28) on slide."""
    window = hf.get("sliding_window") if hf.get("use_sliding_window") else None
    types = hf.get("layer_types")
    if types is None:
        first = get_int(hf, "max_window_layers", default=28)
        types = ["sliding_attention" if window is not None and i >= first else "full_attention" for i in range(n_layers)]
    return window, list(types)
