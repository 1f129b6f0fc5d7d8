"""Everything that builds, loads and runs models; the rest of acdc-tui talks to models through here.

Every model is acdc-tui's own hooked transformer (hooked.py): from a config and state dict (task
directories, the shipped models), from a Hugging Face checkpoint directory (checkpoint.py), or from
the hub (hub.py). `architecture` describes a loaded model for the graph and the engines.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable

import torch

from acdc_tui.core.architecture import Architecture
from acdc_tui.core.errors import UserError
from acdc_tui.models.build import (  # noqa: F401  (the building API, re-exported for the rest of acdc-tui)
    TL_BUFFERS, available_memory, build_model, check_device, check_memory, check_weights, new_model, parameter_count,
)
from acdc_tui.models.config import config_dict

HookFn = Callable[[torch.Tensor, Any], torch.Tensor | None]


def parse_dtype(name: str) -> torch.dtype:
    table = {"float32": torch.float32, "float64": torch.float64}  # half precision: not yet shown to give the same decisions
    if name not in table:
        raise UserError(f"unknown dtype {name!r}: use one of {', '.join(table)}")
    return table[name]


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
