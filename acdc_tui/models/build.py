"""Building our hooked transformer from a config and a state dict: sizes and memory checked first,
weights checked against the config's shapes. checkpoint.py and hub.py build through here (not through
backend, which loads through them), so the loaders form no import cycle.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from acdc_tui.core.errors import UserError
from acdc_tui.models.config import ModelConfig, parse_config

# Buffers a TransformerLens 3 state dict may hold; ours computes them instead.
TL_BUFFERS = ("IGNORE", "mask", "rotary_sin", "rotary_cos")


def check_device(device: str) -> str:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {device!r} requested but no CUDA GPU is visible to torch: use --device cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise UserError(f"unknown device {device!r}: use cpu or cuda")
    return device


def parameter_count(cfg: ModelConfig) -> int:
    """Parameters of a model with this config (to say how much memory it needs before allocating)."""
    D, H, G, dh, L = cfg.d_model, cfg.n_heads, cfg.kv_heads, cfg.d_head, cfg.n_layers
    attn = (H + 2 * G) * D * dh + H * dh * D
    mlp = 0 if cfg.attn_only else (3 if cfg.gated_mlp else 2) * D * cfg.d_mlp
    pos = cfg.n_ctx * D if cfg.positional_embedding_type != "rotary" else 0
    return cfg.d_vocab * D + pos + L * (attn + mlp) + D * cfg.d_vocab_out


def available_memory() -> int | None:
    """Bytes of memory free for new allocations (Linux), or None when unknown."""
    import os

    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(cfg: ModelConfig) -> None:
    """A config too large for this machine's free memory is one line saying how much it needs."""
    needed, free = parameter_count(cfg) * 4, available_memory()
    if free is not None and needed > free:
        raise UserError(f"the model config needs {needed / 2**30:.2f} GiB for its float32 weights but only {free / 2**30:.2f} GiB of memory is free: check the sizes in the config")


def new_model(cfg: ModelConfig, rotary=None, device: str | None = None):
    """An unloaded HookedModel (on the meta device: shapes only); a config too large for this machine is
    one line saying how much memory it needs."""
    from acdc_tui.models.hooked import HookedModel

    if device == "meta":
        with torch.device("meta"):
            return HookedModel(cfg, rotary)
    check_memory(cfg)
    needed = parameter_count(cfg) * 4
    try:
        return HookedModel(cfg, rotary)
    except (RuntimeError, MemoryError) as e:
        if isinstance(e, RuntimeError) and "memory" not in str(e).lower() and "allocat" not in str(e).lower():
            raise
        raise UserError(f"the model config needs {needed / 2**30:.2f} GiB for its float32 weights, more than this machine could allocate: check the sizes in the config") from None


def build_model(config: Mapping[str, Any] | ModelConfig, state_dict: Mapping[str, torch.Tensor] | None, device: str = "cpu",
                dtype: torch.dtype = torch.float32, rotary=None, where: str = "config.json", weights_where: str = "weights.pt",
                generator: torch.Generator | None = None):
    """Our hooked transformer from HookedTransformerConfig-style keys and its parameters (or a seeded
    initialisation, as HookedTransformer's, when `state_dict` is None). The weights are checked
    against the config's shapes before anything is allocated."""
    cfg = config if isinstance(config, ModelConfig) else parse_config(config, where)
    cfg.device = check_device(device)
    check_memory(cfg)  # before the weights: a typo in a size should not be blamed on them
    if state_dict is not None:
        state_dict = check_weights(new_model(cfg, rotary, "meta"), state_dict, where, weights_where)
    model = new_model(cfg, rotary)
    if state_dict is None:
        model.init_weights(generator)  # in float32, as HookedTransformer, then cast
    model.to(device, dtype)
    if state_dict is not None:
        with torch.no_grad():  # into the run's dtype: float64 weights keep their precision
            for k, p in model.named_parameters():
                p.copy_(state_dict[k].to(p.dtype))
    return model.eval()


def check_weights(model, state_dict: Mapping[str, torch.Tensor], where: str = "config.json", weights_where: str = "weights.pt") -> dict[str, torch.Tensor]:
    """Every parameter, of the right shape, finite; TransformerLens 3 names (`_W_K` with grouped-query
    attention) and buffers accepted. Returns the state dict under our names."""
    sd = {k.replace("attn._W_", "attn.W_").replace("attn._b_", "attn.b_"): v for k, v in state_dict.items() if k.rsplit(".", 1)[-1] not in TL_BUFFERS}
    params = dict(model.named_parameters())
    missing = [k for k in params if k not in sd]
    unexpected = [k for k in sd if k not in params]
    fix = f"check that {where} matches {weights_where}"
    if missing or unexpected:
        what = f"missing parameter {missing[0]!r}" if missing else f"unexpected key {unexpected[0]!r}"
        raise UserError(f"{weights_where} does not fit the model config ({what}; {len(missing)} missing, {len(unexpected)} unexpected): {fix}")
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor) or not v.is_floating_point():
            raise UserError(f"{weights_where}: {k!r} is not a floating-point tensor: save the model's parameters (model.state_dict())")
        if tuple(v.shape) != tuple(params[k].shape):
            raise UserError(f"{weights_where}: weight {k!r} has shape {tuple(v.shape)} but the config needs {tuple(params[k].shape)}: {fix}")
        if not torch.isfinite(v).all():
            raise UserError(f"{weights_where}: weight {k!r} contains NaN or infinite values, so no metric can be computed: use finite weights")
    return sd
