"""OLMo-2: a post-norm family without pre-norms. Attention and MLP read the residual stream as it is;
a norm after each (`ln1_post`, `ln2_post`) sits between its output and the residual stream, so the
graph has Gemma-2's post-attention node per layer (docs/postnorm-graph.md), the post-MLP norm inside
the MLP node. Its q and k RMSNorms run over the full width (every head together), so one head's q
depends on every head's projection. Per-head semantics (exact when nothing is patched): head h's q
(k) node computes the full-width projection of ITS OWN q (k) input, normalises over the full width,
and keeps its own slice; the q_input -> q edge stands for all of that. Rotary positions, SwiGLU MLP."""

from __future__ import annotations

from typing import Any, Mapping

from acdc_tui.core.architecture.hf_config import dynamic_rope_refusal, llama_style_sizes

NAME = "olmo2"
MODEL_TYPES = ("olmo2",)
SUPPORTED = True


def unsupported(hf: Mapping[str, Any]) -> str | None:
    return dynamic_rope_refusal(hf)


def model_config(hf: Mapping[str, Any]) -> dict[str, Any]:
    sizes = llama_style_sizes(hf)
    sizes["eps"] = float(hf.get("rms_norm_eps", 1e-5))
    return {**sizes, "post_norms": True, "pre_norms": False, "qk_norm_full_width": True}
