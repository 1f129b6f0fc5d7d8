"""Gemma (the first): Llama's wiring with multi-query attention (one key/value head: one k and one v
input node per layer), a GeGLU MLP (gelu_pytorch_tanh gate), the token embedding multiplied by
√d_model (as transformers does: the scale a float32 tensor, then cast to the model's dtype) before
the first block, and RMSNorms that scale by 1 + w (the conversion stores 1 + w, so our RMSNorm is
unchanged). The graph is the GPT-2-style graph with G key/value heads."""

from __future__ import annotations

from typing import Any, Mapping

from acdc_tui.core.architecture.hf_config import dynamic_rope_refusal, llama_style_sizes

NAME = "gemma"
MODEL_TYPES = ("gemma",)
SUPPORTED = True


def unsupported(hf: Mapping[str, Any]) -> str | None:
    if hf.get("use_bidirectional_attention"):
        return "bidirectional attention (use_bidirectional_attention) is missing from the graph"
    return dynamic_rope_refusal(hf)


def model_config(hf: Mapping[str, Any]) -> dict[str, Any]:
    sizes = llama_style_sizes(hf)
    # transformers 5 reads hidden_act only (the older hidden_activation key is ignored), so do we
    sizes["act_fn"] = hf.get("hidden_act") or "gelu_pytorch_tanh"
    return {**sizes, "embed_scale": float(sizes["d_model"]) ** 0.5}
