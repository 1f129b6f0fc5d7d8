"""`--model PATH`: a local Hugging Face causal-LM checkpoint directory (config.json with model_type,
safetensors or bin weights, written by save_pretrained), offline, converted to our transformer.

The family is read from config.json before any weight is loaded, so an architecture the graph does
not model is one line at once. No processing by default, so the logits equal the Hugging Face model's.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import orjson
import torch

from acdc_tui.core.architecture import describe_hf_config
from acdc_tui.core.errors import UserError
from acdc_tui.models.config import parse_config


@contextlib.contextmanager
def quiet_transformers():
    """No progress bars or warnings from transformers: they would break the one-line error contract."""
    import transformers

    previous, verbosity = logging.getLogger().level, transformers.logging.get_verbosity()
    logging.getLogger().setLevel(logging.ERROR)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.getLogger().setLevel(previous)
        transformers.logging.set_verbosity(verbosity)
        transformers.logging.enable_progress_bar()


def read_hf_config(directory: Path, what: str) -> dict:
    if directory.is_file():
        raise UserError(f"{what} is a file, not a directory: pass the checkpoint directory (the one holding config.json)")
    if not directory.is_dir():
        raise UserError(f"{what} does not exist: pass a checkpoint directory written by model.save_pretrained(DIR)")
    if not (directory / "config.json").is_file():
        raise UserError(f"{what}: not a Hugging Face checkpoint directory (no config.json): save one with model.save_pretrained(DIR)")
    try:
        raw = orjson.loads((directory / "config.json").read_bytes())
    except orjson.JSONDecodeError as e:
        raise UserError(f"{what}: config.json is not valid JSON ({e})") from None
    if not isinstance(raw, dict) or "model_type" not in raw:
        raise UserError(f"{what}: config.json has no model_type, so the architecture is unknown: save the checkpoint with a recent transformers (model.save_pretrained)")
    return raw


def hf_model(directory: Path, what: str):
    """The Hugging Face model, float32, offline."""
    from transformers import AutoModelForCausalLM

    with quiet_transformers():
        try:
            return AutoModelForCausalLM.from_pretrained(str(directory), local_files_only=True, dtype=torch.float32).eval()
        except (OSError, ValueError, KeyError, RuntimeError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise UserError(f"{what}: cannot load the checkpoint ({type(e).__name__}: {first.rstrip('.')}); it must be a directory written by save_pretrained") from None


def from_hf_model(hf, config: dict, device: str, dtype: torch.dtype, name: str, **settings):
    """Our transformer with the Hugging Face model's weights (optionally processed as TransformerLens 3 did)."""
    from acdc_tui.models.build import build_model
    from acdc_tui.models.convert import CONVERTERS
    from acdc_tui.models.processing import process

    cfg = parse_config({**config, "model_name": name}, f"the config of {name}")
    state, rotary = CONVERTERS[config["family"]](hf, cfg)
    if any(settings.values()):
        state, config = process(state, config, **settings)
        cfg = parse_config({**config, "model_name": name}, f"the config of {name}")
    return build_model(cfg, state, device, dtype, rotary=rotary, where=f"the config of {name}", weights_where=f"the weights of {name}")


def load_checkpoint(path: str, device: str = "cpu", dtype: torch.dtype = torch.float32, **settings):
    what = f"--model {path}"
    directory = Path(path)
    config = describe_hf_config(read_hf_config(directory, what), what)  # refuses unknown families first
    hf = hf_model(directory, what)
    return from_hf_model(hf, config, device, dtype, directory.name, **settings)
