"""Which family a Hugging Face checkpoint belongs to, by its config's `model_type`."""

from __future__ import annotations

from types import ModuleType
from typing import Any, Mapping

from acdc_tui.core.architecture import gemma2, gpt2, llama, neox, olmo2
from acdc_tui.core.errors import UserError

FAMILIES: tuple[ModuleType, ...] = (gpt2, neox, llama, gemma2, olmo2)


def family_of(model_type: str) -> ModuleType | None:
    return next((f for f in FAMILIES if model_type in f.MODEL_TYPES), None)


def supported_model_types() -> list[str]:
    return [t for f in FAMILIES if f.SUPPORTED for t in f.MODEL_TYPES]


def describe_hf_config(hf: Mapping[str, Any], where: str = "the checkpoint") -> dict[str, Any]:
    """Our own model's config (HookedTransformerConfig-style keys, plus `family`) for a Hugging Face
    config dict; one line naming the architecture and what is missing when the graph cannot model it."""
    model_type = str(hf.get("model_type") or "")
    architecture = ", ".join(hf.get("architectures") or []) or model_type or "unknown"
    family = family_of(model_type)
    if family is None:
        raise UserError(
            f"{where}: architecture {architecture} (model_type {model_type!r}) is not one acdc-tui models; "
            f"supported model types are {', '.join(supported_model_types())}"
        )
    missing = family.unsupported(hf)
    if missing:
        raise UserError(f"{where}: architecture {architecture} cannot be modelled by the ACDC graph: {missing}")
    return {**family.model_config(hf), "family": family.NAME, "original_architecture": architecture}


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


def rope_parameters(hf: Mapping[str, Any]) -> dict[str, Any]:
    """transformers 5 keeps rope settings in `rope_parameters`; older configs at the top level."""
    params = dict(hf.get("rope_parameters") or hf.get("rope_scaling") or {})
    for key in ("rope_theta", "partial_rotary_factor"):
        if key not in params and hf.get(key) is not None:
            params[key] = hf[key]
    return params
