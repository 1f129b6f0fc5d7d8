"""OLMo-2: a post-norm family without pre-norms. Attention and MLP read the residual stream as it is;
a norm after each (`ln1_post`, `ln2_post`) sits between its output and the residual stream, so the
graph has Gemma-2's post-attention node per layer (docs/postnorm-graph.md), the post-MLP norm inside
the MLP node. Its q and k RMSNorms run over the full width (every head together), so one head's q
depends on every head's projection. Per-head semantics (exact when nothing is patched): head h's q
(k) node computes the full-width projection of ITS OWN q (k) input, normalises over the full width,
and keeps its own slice; the q_input -> q edge stands for all of that. Rotary positions, SwiGLU MLP."""

from __future__ import annotations

from typing import Any, Mapping

NAME = "olmo2"
MODEL_TYPES = ("olmo2",)
SUPPORTED = True
STATIC_ROPE = (None, "default", "linear", "llama3", "yarn")


def unsupported(hf: Mapping[str, Any]) -> str | None:
    from acdc_tui.core.architecture.families import rope_parameters

    kind = rope_parameters(hf).get("rope_type", rope_parameters(hf).get("type"))
    if kind not in STATIC_ROPE:
        return f"rotary scaling {kind!r} (frequencies that change with the sequence length) is missing from our transformer"
    return None


def model_config(hf: Mapping[str, Any]) -> dict[str, Any]:
    from acdc_tui.core.architecture.families import get_int

    d_model, n_heads = get_int(hf, "hidden_size"), get_int(hf, "num_attention_heads")
    return {
        "n_layers": get_int(hf, "num_hidden_layers"),
        "n_heads": n_heads,
        "n_key_value_heads": get_int(hf, "num_key_value_heads", default=n_heads),
        "d_model": d_model,
        "d_head": d_model // n_heads,
        "d_mlp": get_int(hf, "intermediate_size"),
        "d_vocab": get_int(hf, "vocab_size"),
        "n_ctx": get_int(hf, "max_position_embeddings"),
        "act_fn": hf.get("hidden_act", "silu"),
        "eps": float(hf.get("rms_norm_eps", 1e-5)),
        "normalization_type": "RMS",
        "positional_embedding_type": "rotary",
        "gated_mlp": True,
        "post_norms": True,
        "pre_norms": False,
        "qk_norm_full_width": True,
    }
