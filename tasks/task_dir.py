"""A task from a directory: a model, tokens.pt; metric KL on the last position.

    config.json  HookedTransformerConfig keyword arguments (our own transformer), with
    weights.pt   the model's parameters, a state dict (torch.load(weights_only=True));
                 or instead a Hugging Face checkpoint (config.json with model_type, and its
                 safetensors weights, written by save_pretrained)
    tokens.pt    {"clean": LongTensor [batch, pos], "corrupted": LongTensor of the same shape}
"""

from __future__ import annotations

import functools
from pathlib import Path

import orjson
import torch

from acdc_tui.core.errors import UserError
from acdc_tui.core.metrics import kl_divergence
from acdc_tui.models import backend
from tasks.task import Task, check_tokens

REQUIRED_FILES = ("config.json", "weights.pt", "tokens.pt")


def first_line(e: BaseException) -> str:
    """An exception's first line, whole (its type when it has no message)."""
    lines = str(e).strip().splitlines()
    return lines[0].rstrip(".") if lines else type(e).__name__


def _read_config(path: Path) -> dict:
    try:
        config = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON ({e}): it must hold HookedTransformerConfig keyword arguments") from None
    if not isinstance(config, dict):
        raise UserError(f"{path} must hold a JSON object of HookedTransformerConfig keyword arguments")
    return config


def _torch_load(path: Path, what: str):
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty (0 bytes): save {what} into it with torch.save")
    from acdc_tui.core.safe_load import torch_load  # weights_only, depth and size limits: no code from files

    return torch_load(path, str(path), what)


def _model(d: Path, config: dict, device: str, dtype: torch.dtype):
    if "model_type" in config:  # a Hugging Face checkpoint
        return backend.load_checkpoint(str(d), device, dtype)
    weights = _torch_load(d / "weights.pt", "a state dict")
    if not isinstance(weights, dict):
        raise UserError(f"{d / 'weights.pt'} must hold a state dict (a dict of tensors), got {type(weights).__name__}")
    return backend.build_model(config, weights, device, dtype)  # messages name config.json and weights.pt


def check_task_dir(directory: str | Path) -> Path:
    """The path must be a directory (cheap: before any model loads)."""
    d = Path(directory)
    if d.is_file():
        raise UserError(f"task directory {str(d)!r} is a file, not a directory: pass the directory holding {', '.join(REQUIRED_FILES)}")
    if not d.is_dir():
        raise UserError(f"task directory {str(d)!r} does not exist: pass a directory holding {', '.join(REQUIRED_FILES)}")
    return d


def load_task_dir(directory: str | Path, device: str = "cpu", dtype: torch.dtype = torch.float32) -> Task:
    d = check_task_dir(directory)
    config = _read_config(d / "config.json") if (d / "config.json").is_file() else {}
    required = ("config.json", "tokens.pt") if "model_type" in config else REQUIRED_FILES
    missing = [f for f in required if not (d / f).is_file()]
    if missing:
        raise UserError(f"task directory {str(d)!r} lacks {', '.join(missing)}: it needs {', '.join(REQUIRED_FILES)} (or a Hugging Face checkpoint and tokens.pt)")
    tokens = _torch_load(d / "tokens.pt", "token tensors")
    if not isinstance(tokens, dict) or not {"clean", "corrupted"} <= set(tokens):
        raise UserError(f"{d / 'tokens.pt'} must hold a dict with 'clean' and 'corrupted' token tensors")
    model = _model(d, config, device, dtype)
    clean = check_tokens(tokens["clean"], model, "clean tokens")
    corrupted = check_tokens(tokens["corrupted"], model, "corrupted tokens")
    if clean.shape != corrupted.shape:
        raise UserError(f"clean tokens {tuple(clean.shape)} and corrupted tokens {tuple(corrupted.shape)} in {d / 'tokens.pt'} differ in shape: they must be equal")
    return Task(
        name=d.resolve().name,
        source=str(d.resolve()),
        model=model,
        clean=clean,
        corrupted=corrupted,
        metrics={"kl": functools.partial(kl_divergence, positions=(-1,))},
        default_metric="kl",
        description=f"task directory {d}",
        config=config,
    )
