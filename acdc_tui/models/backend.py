"""All TransformerLens-specific code: building models, hook names, running with hooks.

Everything else talks to models through these functions, so a TransformerBridge backend
can be added here later without touching the graph, algorithm or tasks.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Mapping

import torch

from acdc_tui.core.errors import UserError

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


def _set_acdc_flags(model) -> None:
    model.set_use_attn_result(REQUIRED_FLAGS["use_attn_result"])
    model.set_use_split_qkv_input(REQUIRED_FLAGS["use_split_qkv_input"])
    model.set_use_hook_mlp_in(REQUIRED_FLAGS["use_hook_mlp_in"])


def _finish(model, device: str, dtype: torch.dtype):
    _set_acdc_flags(model)
    check_supported(model.cfg)
    model.to(device, print_details=False)
    if dtype != torch.float32:
        model.to(dtype, print_details=False)
    model.eval()
    return model


def load_pretrained(name: str, device: str = "cpu", dtype: torch.dtype = torch.float32, **settings):
    """A TransformerLens hub model (`HookedTransformer.from_pretrained`) with the ACDC hook flags.

    `settings` are from_pretrained's processing options (fold_ln, center_writing_weights, ...),
    as the task's reference passes them. Without network or a populated Hugging Face cache the
    run stops with one line saying so.
    """
    import logging

    tl = _transformer_lens()
    check_device(device)
    previous = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # TL logs processing notes at INFO/WARNING
    try:
        model = tl.HookedTransformer.from_pretrained(name, device=device, **settings)
    except (OSError, ValueError, RuntimeError, ImportError) as e:
        if "out of memory" in str(e).lower():
            raise
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise UserError(
            f"cannot load model {name!r} ({type(e).__name__}: {first}): populate the Hugging Face cache "
            f"(run once with network access, or copy ~/.cache/huggingface from a machine that has it), "
            f"or pass a local checkpoint with --model PATH"
        ) from None
    except Exception as e:  # requests/httpx connection errors do not share a base class with the above
        if type(e).__module__.split(".")[0] not in ("requests", "httpx", "huggingface_hub", "urllib3"):
            raise
        raise UserError(
            f"cannot load model {name!r} ({type(e).__name__}): populate the Hugging Face cache "
            f"(run once with network access), or pass a local checkpoint with --model PATH"
        ) from None
    finally:
        logging.getLogger().setLevel(previous)
    return _finish(model, device, dtype)


def load_checkpoint(path: str, device: str = "cpu", dtype: torch.dtype = torch.float32, **settings):
    """A Hugging Face-format checkpoint directory (config.json + weights), offline, as a HookedTransformer.

    The weights go through TransformerLens's own conversion for the architecture named in
    config.json (GPT-2 family tested). By default no processing (no LayerNorm folding or
    centring), so the logits equal the Hugging Face model's; `settings` may turn them on.
    """
    import logging
    from pathlib import Path

    tl = _transformer_lens()
    check_device(device)
    p = Path(path)
    if not (p / "config.json").is_file():
        raise UserError(f"--model {path}: not a Hugging Face checkpoint directory (no config.json): save one with model.save_pretrained(DIR)")
    import transformers
    from transformer_lens import loading_from_pretrained as loading
    from transformers import AutoModelForCausalLM

    previous = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()  # "Loading weights" bars would break the one-line error contract
    try:
        try:
            hf_model = AutoModelForCausalLM.from_pretrained(str(p), local_files_only=True, torch_dtype=torch.float32)
        except (OSError, ValueError, KeyError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
            raise UserError(f"--model {path}: cannot load the checkpoint ({type(e).__name__}: {first}): it must be a directory written by save_pretrained") from None
        try:
            if type(hf_model).__name__ == "GPT2LMHeadModel":
                # TransformerLens's GPT-2 config conversion reads `n_ctx`, which configs written by
                # recent transformers lack, and assumes d_mlp = 4 * d_model: build it here instead.
                cfg = _gpt2_config(tl, hf_model.config, p.name, device)
                from transformer_lens.pretrained.weight_conversions import convert_gpt2_weights

                state_dict = convert_gpt2_weights(hf_model, cfg)
            else:
                cfg = loading.get_pretrained_model_config(str(p), fold_ln=bool(settings.get("fold_ln", False)), device=device, dtype=torch.float32, local_files_only=True)
                state_dict = loading.get_pretrained_state_dict(str(p), cfg, hf_model, dtype=torch.float32)
        except (NotImplementedError, ValueError, KeyError, AttributeError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
            raise UserError(f"--model {path}: TransformerLens cannot convert this architecture ({type(e).__name__}: {first}): use a GPT-2-family checkpoint") from None
        cfg.tokenizer_name = None  # token ids come from the task; never fetch a tokenizer
        model = tl.HookedTransformer(cfg, tokenizer=None, move_to_device=False)
        model.load_and_process_state_dict(
            state_dict,
            fold_ln=bool(settings.get("fold_ln", False)),
            center_writing_weights=bool(settings.get("center_writing_weights", False)),
            center_unembed=bool(settings.get("center_unembed", False)),
            fold_value_biases=bool(settings.get("fold_value_biases", False)),
        )
    finally:
        logging.getLogger().setLevel(previous)
        transformers.logging.set_verbosity(verbosity)
        transformers.logging.enable_progress_bar()
    return _finish(model, device, dtype)


def _gpt2_config(tl, hf, name: str, device: str):
    """HookedTransformerConfig for a transformers GPT2Config (what TransformerLens's own mapping sets)."""
    n_ctx = getattr(hf, "n_positions", None) or getattr(hf, "n_ctx")
    return tl.HookedTransformerConfig(
        d_model=hf.n_embd,
        d_head=hf.n_embd // hf.n_head,
        n_heads=hf.n_head,
        d_mlp=hf.n_inner if getattr(hf, "n_inner", None) else 4 * hf.n_embd,
        n_layers=hf.n_layer,
        n_ctx=n_ctx,
        eps=hf.layer_norm_epsilon,
        d_vocab=hf.vocab_size,
        act_fn=hf.activation_function,
        use_attn_scale=getattr(hf, "scale_attn_weights", True),
        scale_attn_by_inverse_layer_idx=getattr(hf, "scale_attn_by_inverse_layer_idx", False),
        normalization_type="LN",
        original_architecture="GPT2LMHeadModel",
        model_name=name,
        init_weights=False,
        device=device,
    )
