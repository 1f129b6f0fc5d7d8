"""GPT-NeoX / Pythia and GPT-J: rotary positions, attention and MLP in parallel (both read the
block's input, so a layer's heads do not feed its MLP), LayerNorm with biases."""

from __future__ import annotations

from typing import Any, Mapping

from acdc_tui.core.architecture.hf_config import get_int, gpt2_style_sizes, rope_parameters, rope_type

NAME = "neox"
MODEL_TYPES = ("gpt_neox", "gptj")
SUPPORTED = True


def unsupported(hf: Mapping[str, Any]) -> str | None:
    kind = rope_type(hf)
    if kind != "default":
        return f"rotary scaling {kind!r} is missing from the fast forward pass"
    return None


def model_config(hf: Mapping[str, Any]) -> dict[str, Any]:
    if hf.get("model_type") == "gptj":
        sizes = gpt2_style_sizes(hf)
        return {
            **sizes,
            "positional_embedding_type": "rotary",
            "rotary_dim": get_int(hf, "rotary_dim", default=sizes["d_head"]),
            "rotary_adjacent_pairs": True,  # GPT-J rotates adjacent pairs, NeoX the two halves
            "parallel_attn_mlp": True,
        }
    d_model, n_heads = get_int(hf, "hidden_size"), get_int(hf, "num_attention_heads")
    rope = rope_parameters(hf)
    d_head = d_model // n_heads
    return {
        "n_layers": get_int(hf, "num_hidden_layers"),
        "n_heads": n_heads,
        "d_model": d_model,
        "d_head": d_head,
        "d_mlp": get_int(hf, "intermediate_size"),
        "d_vocab": get_int(hf, "vocab_size"),
        "n_ctx": get_int(hf, "max_position_embeddings"),
        "act_fn": hf.get("hidden_act", "gelu"),
        "eps": float(hf.get("layer_norm_eps", 1e-5)),
        "normalization_type": "LN",
        "positional_embedding_type": "rotary",
        "rotary_dim": int(d_head * float(rope.get("partial_rotary_factor", hf.get("rotary_pct", 1.0)))),
        "parallel_attn_mlp": bool(hf.get("use_parallel_residual", True)),
    }
