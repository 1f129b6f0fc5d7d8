"""Our own transformer's config: HookedTransformerConfig keyword arguments (the format of task
directories and the shipped models), checked key by key so bad input is one clear line.

Keys that change nothing in a forward pass (names, seeds, hook flags, devices) are accepted and
ignored; keys for features our transformer lacks are refused when set to anything but their default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

from acdc_tui.core.architecture import HOOK_SWITCHES
from acdc_tui.core.errors import UserError

ACT_FNS = ("relu", "gelu", "silu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh")
NORMALIZATIONS = (None, "LN", "LNPre", "RMS", "RMSPre")
POSITIONAL = ("standard", "shortformer", "rotary")
# Accepted and ignored: they name, seed or place the model, or switch hooks we always have.
IGNORED = {
    *HOOK_SWITCHES, "model_name", "seed", "init_mode", "init_weights", "n_devices", "device", "dtype", "tokenizer_name",
    "default_prepend_bos", "tokenizer_prepends_bos",
    "original_architecture", "from_checkpoint", "checkpoint_index", "checkpoint_label_type", "checkpoint_value", "n_params",
    "trust_remote_code", "tie_word_embeddings", "decoder_start_token_id", "ungroup_grouped_query_attention", "train_seq_length",
}
# Features our transformer does not have: refused unless at their (falsy) default.
UNSUPPORTED = {
    "clip_qkv": "q/k/v clipping", "use_logn_attn": "log-n attention scaling",
    "use_dynamic_ntk_rope": "dynamic NTK rotary scaling", "final_rms": "a final RMSNorm in a LayerNorm model",
    "post_embedding_ln": "a LayerNorm after the embedding", "rotary_base_local": "a separate rotary base for local layers",
    "quantization_method": "quantized weights", "num_experts": "mixture-of-experts MLPs", "experts_per_token": "mixture-of-experts MLPs",
    "relative_attention_max_distance": "relative attention", "relative_attention_num_buckets": "relative attention",
"use_NTK_by_parts_rope": "NTK-by-parts rotary scaling",
    "use_yarn_rope": "YaRN rotary scaling", "use_attention_sinks": "attention sinks", "norm_topk_prob": "mixture-of-experts MLPs",
    "load_in_4bit": "quantized weights",
    # TransformerLens's Gemma-2 configs: its weight layout and embedding scale are not checked against
    # ours; Hugging Face Gemma-2 checkpoints (--model) and our own key `post_norms` are the way in
    "use_normalization_before_and_after": "norms after attention and MLP in TransformerLens's Gemma-2 form; acdc-tui's own key is 'post_norms'",
}
SOFTCAP_OFF = (None, -1, -1.0, 0, 0.0)
BIGGEST = 2**31  # no size in any real model comes near; larger ones are typos, and would overflow allocations


@dataclass
class ModelConfig:
    """What our hooked transformer needs; attribute names as HookedTransformerConfig's."""

    n_layers: int
    d_model: int
    n_ctx: int
    d_head: int
    n_heads: int
    d_vocab: int
    d_mlp: int | None = None
    d_vocab_out: int = -1  # -1: d_vocab
    act_fn: str = "relu"
    eps: float = 1e-5
    normalization_type: str | None = "LN"
    attn_only: bool = False
    attention_dir: str = "causal"
    positional_embedding_type: str = "standard"
    rotary_dim: int | None = None
    rotary_base: float = 10000.0
    rotary_adjacent_pairs: bool = False
    rotary_scaling_factor: float = 1.0
    use_local_attn: bool = False
    attn_types: list[str] | None = None
    window_size: int | None = None
    gated_mlp: bool = False
    # None when unused, so that configs without them (and the files that record them) stay as they were
    use_qk_norm: bool | None = None  # per-head RMSNorm on q and k after the projection, before rotary (Qwen3)
    embed_scale: float | None = None  # the token embedding times this (Gemma: √d_model, a float32 scalar cast to the dtype)
    n_key_value_heads: int | None = None
    parallel_attn_mlp: bool = False
    use_attn_scale: bool = True
    attn_scale: float = -1.0
    scale_attn_by_inverse_layer_idx: bool = False
    initializer_range: float = -1.0
    model_name: str = "custom"
    family: str = "gpt2"
    original_architecture: str | None = None
    device: str = "cpu"
    # post-norm families (Gemma-2, Gemma-3, OLMo-2; docs/postnorm-graph.md)
    post_norms: bool = False  # RMSNorms after attention (ln1_post) and after the MLP (ln2_post), before the residual
    pre_norms: bool = True  # False: no norm before attention and MLP (OLMo-2)
    attn_scores_soft_cap: float = -1.0  # cap · tanh(scores / cap) before the mask; <= 0: off
    output_logits_soft_cap: float = -1.0  # the same on the logits
    qk_norm_full_width: bool = False  # OLMo-2: RMSNorm of q (k) over all heads together, after the projection
    extra: dict = field(default_factory=dict)  # ignored keys, kept for model_config()

    @property
    def kv_heads(self) -> int:
        return self.n_heads if self.n_key_value_heads is None else self.n_key_value_heads


def _check_type(key: str, value: Any, kind: str) -> Any:
    """One line naming the key, its value and what it must be."""
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"model config {key!r} is {value!r}, which is not a whole number: give an integer, e.g. \"{key}\": 2")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UserError(f"model config {key!r} is {value!r}, which is not a finite number: give a number")
        return float(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise UserError(f"model config {key!r} is {value!r}, which is not true or false: give a JSON boolean")
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise UserError(f"model config {key!r} is {value!r}, which is not a string")
        return value
    return value


KINDS = {
    **{k: "int" for k in ("n_layers", "d_model", "n_ctx", "d_head", "n_heads", "d_vocab", "d_mlp", "d_vocab_out", "rotary_dim", "window_size", "n_key_value_heads")},
    **{k: "float" for k in ("eps", "rotary_base", "rotary_scaling_factor", "attn_scale", "initializer_range", "embed_scale")},
    **{k: "bool" for k in ("attn_only", "rotary_adjacent_pairs", "use_local_attn", "gated_mlp", "use_qk_norm", "parallel_attn_mlp", "use_attn_scale", "scale_attn_by_inverse_layer_idx")},
    **{k: "float" for k in ("attn_scores_soft_cap", "output_logits_soft_cap")},
    **{k: "bool" for k in ("post_norms", "pre_norms", "qk_norm_full_width")},
    **{k: "str" for k in ("act_fn", "attention_dir", "positional_embedding_type", "model_name", "family")},
}
OPTIONAL = {"d_mlp", "rotary_dim", "window_size", "n_key_value_heads", "normalization_type", "attn_types", "original_architecture", "use_qk_norm", "embed_scale"}


def parse_config(raw: Mapping[str, Any], where: str = "config.json") -> ModelConfig:
    """A ModelConfig from HookedTransformerConfig-style keys; one line for the first problem."""
    if not isinstance(raw, Mapping):
        raise UserError(f"{where} must hold a JSON object of HookedTransformerConfig keyword arguments")
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        if key in UNSUPPORTED:
            if value not in (None, False, 0, *SOFTCAP_OFF):
                raise UserError(f"{where} sets {key!r} ({UNSUPPORTED[key]}), which acdc-tui's transformer does not have: remove it or use a model without it")
            continue
        if key in IGNORED:
            extra[key] = value
            continue
        if key not in KINDS and key not in OPTIONAL:
            raise UserError(f"{where} has unknown key {key!r}: it must hold HookedTransformerConfig keyword arguments (e.g. n_layers, d_model, n_heads, d_head, d_vocab, n_ctx)")
        if value is None and key in OPTIONAL:
            values[key] = None
            continue
        values[key] = _check_type(key, value, KINDS.get(key, ""))
    for key in ("n_layers", "d_model", "n_ctx", "d_head", "d_vocab"):
        if key not in values:
            raise UserError(f"{where} lacks {key!r}: it needs at least n_layers, d_model, n_ctx, d_head and d_vocab")
    if "n_heads" not in values:
        values["n_heads"] = values["d_model"] // values["d_head"] if values["d_head"] > 0 else 0
    cfg = ModelConfig(**values, extra=extra)
    _check_values(cfg, where)
    return cfg


def _check_values(cfg: ModelConfig, where: str) -> None:
    sizes = ["n_layers", "d_model", "n_ctx", "d_head", "n_heads", "d_vocab"] + ([] if cfg.attn_only else ["d_mlp"])
    if not cfg.attn_only and cfg.d_mlp is None:
        cfg.d_mlp = 4 * cfg.d_model
    for key in sizes + [k for k in ("n_key_value_heads", "rotary_dim", "window_size") if getattr(cfg, k) is not None]:
        value = getattr(cfg, key)
        if value <= 0:
            raise UserError(f"{where} sets {key!r} to {value}: sizes must be positive")
        if value > BIGGEST:
            raise UserError(f"{where} sets {key!r} to {value}, beyond any real model (at most {BIGGEST}): fix the config")
    if cfg.d_vocab_out == -1:
        cfg.d_vocab_out = cfg.d_vocab
    elif cfg.d_vocab_out <= 0:
        raise UserError(f"{where} sets 'd_vocab_out' to {cfg.d_vocab_out}: it must be positive (or -1 for d_vocab)")
    choices = [("act_fn", ACT_FNS), ("normalization_type", NORMALIZATIONS), ("positional_embedding_type", POSITIONAL), ("attention_dir", ("causal", "bidirectional"))]
    for key, allowed in choices:
        if getattr(cfg, key) not in allowed:
            raise UserError(f"{where} sets {key!r} to {getattr(cfg, key)!r}, which acdc-tui's transformer does not have: use one of {', '.join(map(str, allowed))}")
    if cfg.eps <= 0:
        raise UserError(f"{where} sets 'eps' to {cfg.eps}: it must be positive")
    if cfg.embed_scale is not None and cfg.embed_scale <= 0:
        raise UserError(f"{where} sets 'embed_scale' to {cfg.embed_scale}: it must be positive")
    if cfg.n_key_value_heads is not None and cfg.n_heads % cfg.n_key_value_heads:
        raise UserError(f"{where}: n_heads {cfg.n_heads} is not a multiple of n_key_value_heads {cfg.n_key_value_heads}")
    if cfg.positional_embedding_type == "rotary":
        cfg.rotary_dim = cfg.rotary_dim or cfg.d_head
        if cfg.rotary_dim > cfg.d_head or cfg.rotary_dim % 2:
            raise UserError(f"{where} sets 'rotary_dim' to {cfg.rotary_dim}: it must be even and at most d_head ({cfg.d_head})")
    if cfg.use_local_attn:
        if cfg.window_size is None or not isinstance(cfg.attn_types, list) or len(cfg.attn_types) != cfg.n_layers or any(t not in ("local", "global") for t in cfg.attn_types):
            raise UserError(f"{where}: local attention needs 'window_size' and 'attn_types', a list of 'local'/'global' with one entry per layer")
    if cfg.qk_norm_full_width and cfg.positional_embedding_type == "shortformer":
        raise UserError(f"{where}: 'qk_norm_full_width' with shortformer positions is not a model acdc-tui's transformer has")
    if cfg.post_norms and cfg.parallel_attn_mlp:
        raise UserError(f"{where}: 'post_norms' with 'parallel_attn_mlp' is not a model acdc-tui's transformer has")
    if cfg.attn_scale <= 0:
        cfg.attn_scale = math.sqrt(cfg.d_head)
    if cfg.initializer_range < 0:
        cfg.initializer_range = 0.8 / math.sqrt(cfg.d_model)


def config_dict(cfg: ModelConfig) -> dict[str, Any]:
    """The config as JSON-friendly keyword arguments (what `parse_config` reads back)."""
    out = {f.name: getattr(cfg, f.name) for f in fields(ModelConfig) if f.name not in ("extra", "device")}
    # the post-norm families' keys only where set: other models' configs (and circuit files) as before
    out = {k: v for k, v in out.items() if not (k in POST_NORM_DEFAULTS and v == POST_NORM_DEFAULTS[k])}
    return {k: v for k, v in out.items() if v is not None}


POST_NORM_DEFAULTS = {"post_norms": False, "pre_norms": True, "attn_scores_soft_cap": -1.0, "output_logits_soft_cap": -1.0, "qk_norm_full_width": False}
