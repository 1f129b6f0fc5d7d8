"""Everything that builds, loads and runs models; the rest of acdc-tui talks to models through here.

Every model is acdc-tui's own hooked transformer (hooked.py): from a config and state dict (task
directories, the shipped models), from a Hugging Face checkpoint directory (checkpoint.py), or from
the hub (hub.py). `architecture` describes a loaded model for the graph and the engines.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Mapping

import torch

from acdc_tui.core.architecture import Architecture
from acdc_tui.core.errors import UserError
from acdc_tui.models.config import ModelConfig, config_dict, parse_config

HookFn = Callable[[torch.Tensor, Any], torch.Tensor | None]
# Buffers a TransformerLens 3 state dict may hold; ours computes them instead.
TL_BUFFERS = ("IGNORE", "mask", "rotary_sin", "rotary_cos")


def parse_dtype(name: str) -> torch.dtype:
    table = {"float32": torch.float32, "float64": torch.float64}  # half precision: not yet shown to give the same decisions
    if name not in table:
        raise UserError(f"unknown dtype {name!r}: use one of {', '.join(table)}")
    return table[name]


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


def architecture(model, use_pos_embed: bool = False) -> Architecture:
    """The model's ACDC architecture description (what the graph is built from)."""
    cfg = model.cfg
    if use_pos_embed and cfg.positional_embedding_type != "standard":
        raise UserError(f"separate embedding and position nodes need learned positional embeddings; this model's are {cfg.positional_embedding_type}")
    return Architecture.from_config(config_dict(cfg), use_pos_embed=use_pos_embed)


def model_config(model) -> dict[str, Any]:
    """JSON-friendly identity of the model's shape (enough to rebuild its graph)."""
    return config_dict(model.cfg)


def fingerprint(model) -> str:
    """sha256 of every parameter's bytes, in name order, so a circuit names the exact weights it came from."""
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        h.update(name.encode())
        # float32 bytes: the same weights give the same fingerprint whatever dtype the run uses
        h.update(p.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return "sha256:" + h.hexdigest()[:32]


def hook_firing_order(model, tokens: torch.Tensor) -> list[str]:
    """Hook names in the order a forward pass fires them (first firing of each)."""
    order: list[str] = []
    hooks = [(name, _recorder(order, name)) for name in model.hook_dict]
    with torch.inference_mode(), model.hooks(fwd_hooks=hooks):
        model(tokens)
    return list(dict.fromkeys(order))


def _recorder(order: list[str], name: str) -> HookFn:
    return lambda x, hook: order.append(name)


def logits(model, tokens: torch.Tensor, fwd_hooks: list[tuple[str, HookFn]] | None = None) -> torch.Tensor:
    with torch.inference_mode(), model.hooks(fwd_hooks=fwd_hooks or []):
        return model(tokens)


KeepFn = Callable[[str, torch.Tensor], Any]  # (hook name, activation) -> what to keep of it (None: nothing)


def capture(model, tokens: torch.Tensor, names: set[str], pre_hooks: list[tuple[str, HookFn]] | None = None, keep: KeepFn | None = None) -> dict[str, Any]:
    """Activations at `names`, seen after `pre_hooks` ran at the same hook point (keyed by the name
    registered, never by `hook.name`): copies, or what `keep` makes of each as the forward pass runs."""
    return logits_and_capture(model, tokens, names, pre_hooks, keep)[1]


def logits_and_capture(model, tokens: torch.Tensor, names: set[str], pre_hooks: list[tuple[str, HookFn]] | None = None, keep: KeepFn | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
    """The logits [batch, pos, vocab] and the activations `capture` returns, from one forward pass."""
    cache: dict[str, Any] = {}

    def saver(name: str) -> HookFn:
        def save(x: torch.Tensor, hook) -> None:
            kept = x.detach().clone() if keep is None else keep(name, x.detach())
            if kept is not None:
                cache[name] = kept

        return save

    missing = names - set(model.hook_dict)
    if missing:
        raise UserError(f"unknown hook name {sorted(missing)[0]!r} for this model: check the task's hook names")
    hooks_ = list(pre_hooks or []) + [(n, saver(n)) for n in sorted(names)]
    with torch.inference_mode(), model.hooks(fwd_hooks=hooks_):
        return model(tokens), cache


def load_checkpoint(path: str, device: str = "cpu", dtype: torch.dtype = torch.float32, **settings):
    from acdc_tui.models.checkpoint import load_checkpoint as load

    return load(path, device, dtype, **settings)


def load_pretrained(name: str, device: str = "cpu", dtype: torch.dtype = torch.float32, **settings):
    from acdc_tui.models.hub import load_pretrained as load

    return load(name, device, dtype, **settings)
