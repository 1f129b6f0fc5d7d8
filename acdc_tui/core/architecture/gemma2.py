"""Gemma-2 and Gemma-3 (text): post-norm families. Around both attention and MLP a norm before
(`ln1`, `ln2`) and a norm after (`ln1_post`, `ln2_post`), the latter between the sum of the heads
and the residual stream, so a single head is not an additive sender: the graph has a node per layer
for the post-attention norm (its input `attn_sum` fed by the layer's heads, its output `attn_out`
feeding every later reader; docs/postnorm-graph.md). The post-MLP norm sits inside the MLP node.

Both: RMSNorm scaling by 1 + w (the conversion stores 1 + w), the token embedding times √d_model,
GeGLU MLPs (gelu_pytorch_tanh), attention scaled by query_pre_attn_scalar^-1/2, local (sliding-window)
and global layers (`layer_types`). Gemma-2: attention-score and final-logit soft-capping. Gemma-3:
per-head q/k RMSNorm (inside the q/k node, as Qwen3's), local layers turned by rope_local_base_freq
(the `sliding_attention` rope parameters), global ones by the global rope (with its scaling), no
attention soft-capping (transformers never applies it to Gemma-3), final-logit soft-capping if set.
"""

from __future__ import annotations

from typing import Any, Mapping

NAME = "gemma2"
MODEL_TYPES = ("gemma2", "gemma3_text", "gemma3")
SUPPORTED = True
# rope types whose frequencies transformers computes once at load (our rotary tables take them as they are)
STATIC_ROPE = (None, "default", "linear", "llama3", "yarn")


def text_config(hf: Mapping[str, Any]) -> Mapping[str, Any]:
    """Gemma-3's multimodal config holds the text model's config under `text_config`."""
    return hf.get("text_config") or hf if hf.get("model_type") == "gemma3" else hf


def unsupported(hf: Mapping[str, Any]) -> str | None:
    from acdc_tui.core.architecture.families import rope_parameters

    if hf.get("model_type") == "gemma3" and not hf.get("text_config"):
        return "a gemma3 config without text_config has no text model to convert"
    hf = text_config(hf)
    if hf.get("use_bidirectional_attention"):
        return "bidirectional attention (use_bidirectional_attention) is missing from the graph"
    params = rope_parameters(hf)
    for p in (params.values() if all(isinstance(v, Mapping) for v in params.values()) and params else [params]):
        kind = p.get("rope_type", p.get("type"))
        if kind not in STATIC_ROPE:
            return f"rotary scaling {kind!r} (frequencies that change with the sequence length) is missing from our transformer"
    return None


def layer_types(hf: Mapping[str, Any], n_layers: int) -> list[str]:
    """'sliding_attention' or 'full_attention' per layer, as transformers fills them in."""
    types = hf.get("layer_types")
    if types:
        return list(types)
    if hf.get("model_type") == "gemma2":
        return ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(n_layers)]
    pattern = int(hf.get("sliding_window_pattern") or hf.get("_sliding_window_pattern") or 6)
    return ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(n_layers)]


def model_config(hf: Mapping[str, Any]) -> dict[str, Any]:
    from acdc_tui.core.architecture.families import get_int

    hf = text_config(hf)
    d_model, n_heads = get_int(hf, "hidden_size"), get_int(hf, "num_attention_heads")
    n_layers = get_int(hf, "num_hidden_layers")
    d_head = get_int(hf, "head_dim", default=d_model // n_heads)
    types = layer_types(hf, n_layers)
    window = hf.get("sliding_window")
    gemma3 = hf.get("model_type") != "gemma2"
    cfg: dict[str, Any] = {
        "n_layers": n_layers,
        "n_heads": n_heads,
        "n_key_value_heads": get_int(hf, "num_key_value_heads", default=n_heads),
        "d_model": d_model,
        "d_head": d_head,
        "d_mlp": get_int(hf, "intermediate_size"),
        "d_vocab": get_int(hf, "vocab_size"),
        "n_ctx": get_int(hf, "max_position_embeddings"),
        "act_fn": hf.get("hidden_activation") or hf.get("hidden_act") or "gelu_pytorch_tanh",
        "eps": float(hf.get("rms_norm_eps", 1e-6)),
        "normalization_type": "RMS",
        "positional_embedding_type": "rotary",
        "gated_mlp": True,
        "post_norms": True,
        "attn_scale": float(hf.get("query_pre_attn_scalar", d_head)) ** 0.5,
        "output_logits_soft_cap": float(hf.get("final_logit_softcapping") or -1.0),
        # transformers passes the attention soft-cap to Gemma-2's attention only
        "attn_scores_soft_cap": -1.0 if gemma3 else float(hf.get("attn_logit_softcapping") or -1.0),
        "embed_scale": float(d_model) ** 0.5,
    }
    if gemma3:
        cfg["use_qk_norm"] = True
    if window is not None and "sliding_attention" in types:
        cfg.update({"use_local_attn": True, "window_size": int(window), "attn_types": ["local" if t == "sliding_attention" else "global" for t in types]})
    return cfg
