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

from acdc_tui.core.architecture.hf_config import dynamic_rope_refusal, llama_style_sizes, sliding_windows

NAME = "gemma2"
MODEL_TYPES = ("gemma2", "gemma3_text", "gemma3")
SUPPORTED = True


def text_config(hf: Mapping[str, Any]) -> Mapping[str, Any]:
    """Gemma-3's multimodal config holds the text model's config under `text_config`."""
    return (hf.get("text_config") or hf) if hf.get("model_type") == "gemma3" else hf


def unsupported(hf: Mapping[str, Any]) -> str | None:
    if hf.get("model_type") == "gemma3" and not hf.get("text_config"):
        return "a gemma3 config without text_config has no text model to convert"
    hf = text_config(hf)
    if hf.get("use_bidirectional_attention"):
        return "bidirectional attention (use_bidirectional_attention) is missing from the graph"
    params = hf.get("rope_parameters") or {}
    nested = [v for v in params.values() if isinstance(v, Mapping)] if isinstance(params, Mapping) else []
    for p in nested or [hf]:  # Gemma-3: one rope per layer type
        missing = dynamic_rope_refusal({"rope_parameters": p} if nested else p)
        if missing:
            return missing
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
    hf = text_config(hf)
    sizes = llama_style_sizes(hf)
    sizes["act_fn"] = hf.get("hidden_activation") or hf.get("hidden_act") or "gelu_pytorch_tanh"
    gemma3 = hf.get("model_type") != "gemma2"
    n_layers, d_model = sizes["n_layers"], sizes["d_model"]
    return {
        **sizes,
        "post_norms": True,
        "attn_scale": float(hf.get("query_pre_attn_scalar") or sizes["d_head"]) ** 0.5,
        "output_logits_soft_cap": float(hf.get("final_logit_softcapping") or -1.0),
        # transformers passes the attention soft-cap to Gemma-2's attention only
        "attn_scores_soft_cap": -1.0 if gemma3 else float(hf.get("attn_logit_softcapping") or -1.0),
        "embed_scale": float(d_model) ** 0.5,
        **({"use_qk_norm": True} if gemma3 else {}),
        **sliding_windows(n_layers, hf.get("sliding_window"), layer_types(hf, n_layers)),
    }
