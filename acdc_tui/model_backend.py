"""All TransformerLens-specific code: building models, hook names, running with hooks.

Everything else talks to models through these functions, so a TransformerBridge backend
can be added here later without touching the graph, algorithm or tasks.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Mapping

import torch

from .errors import UserError

# ACDC needs per-head q/k/v inputs, per-head results and the MLP input as separate hook points.
REQUIRED_FLAGS = {"use_attn_result": True, "use_split_qkv_input": True, "use_hook_mlp_in": True}

HookFn = Callable[[torch.Tensor, Any], torch.Tensor | None]


def _transformer_lens():
    import warnings

    with warnings.catch_warnings():  # 3.x warns that HookedTransformer is deprecated in 4.0
        warnings.simplefilter("ignore")
        import transformer_lens

    return transformer_lens


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


def build_model(config: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor] | None, device: str = "cpu", dtype: torch.dtype = torch.float32):
    """A HookedTransformer from config keyword arguments and (optionally) its parameters.

    Buffers such as attention masks may be missing from `state_dict`; every parameter must be there.
    """
    tl = _transformer_lens()
    kwargs = {k: v for k, v in dict(config).items() if k not in ("device", "dtype")}
    kwargs.update(REQUIRED_FLAGS)
    try:
        cfg = tl.HookedTransformerConfig(**kwargs, device=check_device(device))
    except (TypeError, ValueError, AssertionError) as e:
        raise UserError(f"invalid model config: {str(e).splitlines()[0]}: fix config.json (HookedTransformerConfig keyword arguments)") from None
    check_supported(cfg)
    model = tl.HookedTransformer(cfg)
    if state_dict is not None:
        params = dict(model.named_parameters())
        missing = [k for k in params if k not in state_dict]
        unexpected = [k for k in state_dict if k not in model.state_dict()]
        if missing or unexpected:
            what = f"missing parameter {missing[0]!r}" if missing else f"unexpected key {unexpected[0]!r}"
            raise UserError(f"weights do not fit the model config ({what}; {len(missing)} missing, {len(unexpected)} unexpected): check that config.json matches weights.pt")
        for k, v in state_dict.items():
            if k in params and tuple(v.shape) != tuple(params[k].shape):
                raise UserError(f"weight {k!r} has shape {tuple(v.shape)} but the config needs {tuple(params[k].shape)}: check that config.json matches weights.pt")
        model.load_state_dict(dict(state_dict), strict=False)
    model.to(device, print_details=False)
    if dtype != torch.float32:
        model.to(dtype, print_details=False)
    model.eval()
    return model


def check_supported(cfg) -> None:
    """ACDC's graph assumes every head and MLP reads and writes one residual stream, in sequence."""
    problems = []
    if getattr(cfg, "n_key_value_heads", None) not in (None, cfg.n_heads):
        problems.append("grouped-query attention (n_key_value_heads)")
    if getattr(cfg, "parallel_attn_mlp", False):
        problems.append("parallel attention and MLP (parallel_attn_mlp)")
    if getattr(cfg, "positional_embedding_type", "standard") == "shortformer":
        problems.append("shortformer positional embeddings")
    if problems:
        raise UserError(f"this model uses {', '.join(problems)}, which the ACDC graph does not model yet: use a GPT-2-style model")


def model_config(model) -> dict[str, Any]:
    """JSON-friendly identity of the model's shape."""
    c = model.cfg
    keys = ["n_layers", "n_heads", "d_model", "d_head", "d_mlp", "d_vocab", "d_vocab_out", "n_ctx", "attn_only", "act_fn", "normalization_type", "positional_embedding_type", "model_name"]
    return {k: getattr(c, k, None) for k in keys}


def fingerprint(model) -> str:
    """sha256 of every parameter's bytes, in name order, so a circuit names the exact weights it came from."""
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters()):
        h.update(name.encode())
        # float32 bytes: the same weights give the same fingerprint whatever dtype the run uses
        h.update(p.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return "sha256:" + h.hexdigest()[:32]


def hook_firing_order(model, tokens: torch.Tensor) -> list[str]:
    """Hook names in the order a forward pass fires them."""
    order: list[str] = []
    hooks = [(name, lambda x, hook: order.append(hook.name)) for name in model.hook_dict]
    with torch.inference_mode(), model.hooks(fwd_hooks=hooks):
        model(tokens)
    return order


def logits(model, tokens: torch.Tensor, fwd_hooks: list[tuple[str, HookFn]] | None = None) -> torch.Tensor:
    with torch.inference_mode(), model.hooks(fwd_hooks=fwd_hooks or []):
        return model(tokens)


def capture(model, tokens: torch.Tensor, names: set[str], pre_hooks: list[tuple[str, HookFn]] | None = None) -> dict[str, torch.Tensor]:
    """Activations at `names`, seen after `pre_hooks` ran at the same hook point."""
    cache: dict[str, torch.Tensor] = {}

    def save(x: torch.Tensor, hook) -> None:
        cache[hook.name] = x.detach().clone()

    missing = names - set(model.hook_dict)
    if missing:
        raise UserError(f"unknown hook name {sorted(missing)[0]!r} for this model: check the task's hook names")
    hooks_ = list(pre_hooks or []) + [(n, save) for n in sorted(names)]
    with torch.inference_mode(), model.hooks(fwd_hooks=hooks_):
        model(tokens)
    return cache
