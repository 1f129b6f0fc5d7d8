"""Models from the Hugging Face hub (or its local cache), as the ACDC reference's hub tasks load them:
`gpt2` in Hugging Face format, and TransformerLens-format repos (`attn-only-4l`, `redwood_attn_2l`:
config.json and a `*final.pth` state dict), on our transformer, with TransformerLens 3's processing
settings. Without network and cache: one line saying so.
"""

from __future__ import annotations

import torch

from acdc_tui.core.architecture import describe_hf_config
from acdc_tui.core.errors import UserError
from acdc_tui.core.safe_load import torch_load

# acdc-tui's names for hub models (TransformerLens's aliases) -> repository
REPOS = {"gpt2": "gpt2", "attn-only-4l": "NeelNanda/Attn_Only_4L512W_C4_Code", "redwood_attn_2l": "ArthurConmy/redwood_attn_2l"}
TL_FORMAT = ("NeelNanda/", "ArthurConmy/")
DEFAULT_PROCESSING = {"fold_ln": True, "center_writing_weights": True, "center_unembed": True, "fold_value_biases": True}


def _cannot_load(name: str, e: Exception) -> UserError:
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    if len(first) > 200:  # whole sentences only: name the error type rather than cut its message
        first = "see the Hugging Face cache"
    return UserError(
        f"cannot load model {name!r} ({type(e).__name__}: {first.rstrip('.')}); populate the Hugging Face cache "
        f"(run once with network access, or copy ~/.cache/huggingface from a machine that has it), or pass a local checkpoint with --model PATH"
    )


def _snapshot(repo: str, patterns: list[str]) -> str:
    """The cached snapshot of `repo` (network only when the cache lacks it)."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(repo, allow_patterns=patterns, local_files_only=True)
    except Exception:
        return snapshot_download(repo, allow_patterns=patterns)


def tl_format_config(raw: dict) -> dict:
    """A TransformerLens-format repo's config.json -> HookedTransformerConfig keys (as TL 3 converted them)."""
    keys = ("d_model", "n_layers", "d_mlp", "d_head", "n_heads", "n_ctx", "d_vocab", "act_fn", "attn_only")
    config = {k: raw[k] for k in keys}
    config["normalization_type"] = raw.get("normalization", raw.get("normalization_type"))
    config["positional_embedding_type"] = "shortformer" if raw.get("shortformer_pos") else "standard"
    if raw.get("final_rms"):
        config["final_rms"] = True
    if raw.get("tokenizer_name"):
        config["tokenizer_name"] = raw["tokenizer_name"]
    if config["attn_only"]:
        config.pop("d_mlp")
    return config


def load_pretrained(name: str, device: str = "cpu", dtype: torch.dtype = torch.float32, **settings):
    """A hub model with TransformerLens 3's default processing unless `settings` say otherwise."""
    from pathlib import Path

    import orjson

    from acdc_tui.models.build import build_model, check_device
    from acdc_tui.models.processing import process

    check_device(device)
    repo = REPOS.get(name, name)
    processing = {**DEFAULT_PROCESSING, **settings}
    try:
        if repo.startswith(TL_FORMAT):
            snap = Path(_snapshot(repo, ["config.json", "*final.pth"]))
            config = tl_format_config(orjson.loads((snap / "config.json").read_bytes()))
            pth = next(snap.rglob("*final.pth"))
            state = torch_load(pth, str(pth), "a state dict")
            if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
                raise UserError(f"{pth} must hold a state dict (a dict of tensors)")
            state = {k: v.float() for k, v in state.items()}
        else:
            from acdc_tui.models.checkpoint import from_hf_model, hf_model, read_hf_config

            snap = Path(_snapshot(repo, ["config.json", "*.safetensors", "*.json", "*.txt", "*.model"]))
            config = describe_hf_config(read_hf_config(snap, name), name)
            model = from_hf_model(hf_model(snap, name), config, device, dtype, name, **processing)
            model.cfg.extra["tokenizer_name"] = repo
            return model
    except UserError:
        raise
    except Exception as e:  # no network and no cache: connection, lookup and file errors of several libraries
        raise _cannot_load(name, e) from None
    state, config = process(state, config, **processing)
    return build_model({**config, "model_name": name}, state, device, dtype, where=f"the config of {name}", weights_where=f"the weights of {name}")


def load_tokenizer(model, name: str):
    """The tokenizer a hub model was trained with (from the cache, or the hub)."""
    from transformers import AutoTokenizer

    from acdc_tui.models.checkpoint import quiet_transformers

    repo = model.cfg.extra.get("tokenizer_name")
    if repo is None:
        raise UserError(f"model {name!r} names no tokenizer: populate the Hugging Face cache with its tokenizer")
    with quiet_transformers():
        try:
            try:
                return AutoTokenizer.from_pretrained(repo, local_files_only=True)
            except Exception:
                return AutoTokenizer.from_pretrained(repo)
        except Exception as e:
            raise _cannot_load(repo, e) from None
