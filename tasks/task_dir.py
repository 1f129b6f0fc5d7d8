"""A task from a directory: a model and its data; metrics on the last position.

    config.json  HookedTransformerConfig keyword arguments (our own transformer), with
    weights.pt   the model's parameters, a state dict (torch.load(weights_only=True));
                 or instead a Hugging Face checkpoint (config.json with model_type, and its
                 safetensors weights, written by save_pretrained)
    tokens.pt    {"clean": LongTensor [batch, pos], "corrupted": LongTensor of the same shape,
                  optionally "answer" and "wrong": LongTensor [batch] or [batch, k] token ids}
    or, with a Hugging Face checkpoint and its tokenizer files (tokenizer.json, tokenizer_config.json):
    prompts.jsonl  text prompts, one {"clean", "corrupted", "answer", "wrong"} object a line (tasks/text_task.py)

Metrics: kl always; with answers nll, and with distractors logit_diff and prob_diff
(acdc_tui.core.metrics.answer_metric: lower is better).
"""

from __future__ import annotations

import functools
from pathlib import Path

import orjson
import torch

from acdc_tui.core.errors import UserError
from acdc_tui.models import backend
from tasks.task import Task, check_tokens
from tasks.text_task import PROMPTS_FILE, answer_metrics, default_metric, load_text_task

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


def load_task_dir(directory: str | Path, device: str = "cpu", dtype: torch.dtype = torch.float32, prompts: str | Path | None = None,
                  bos: str = "auto", model_path: str | None = None, name: str | None = None, source: str | None = None) -> Task:
    """The task in `directory`; `prompts` (a prompts.jsonl elsewhere) replaces its data, `model_path`
    its model (and then the tokenizer comes from there too)."""
    d = check_task_dir(directory)
    config = _read_config(d / "config.json") if (d / "config.json").is_file() else {}
    if prompts is None and (d / PROMPTS_FILE).is_file():
        if (d / "tokens.pt").is_file():
            raise UserError(f"task directory {str(d)!r} holds both tokens.pt and {PROMPTS_FILE}: keep one of them (or pass --prompts FILE to choose the text prompts)")
        prompts = d / PROMPTS_FILE
    if prompts is not None:
        if model_path is None and "model_type" not in config:
            raise UserError(f"task directory {str(d)!r}: text prompts need a Hugging Face checkpoint with its tokenizer files (config.json with model_type, written by save_pretrained), not config.json + weights.pt")
        model_dir = Path(model_path) if model_path is not None else d
        what = f"--model {model_path}" if model_path is not None else f"task directory {str(d)!r}"
        return load_text_task(model_dir, prompts, device, dtype, bos, name=name or d.resolve().name, source=source or str(d.resolve()), what=what)
    required = ("config.json", "tokens.pt") if "model_type" in config else REQUIRED_FILES
    missing = [f for f in required if not (d / f).is_file()]
    if missing:
        raise UserError(f"task directory {str(d)!r} lacks {', '.join(missing)}: it needs {', '.join(REQUIRED_FILES)} (or a Hugging Face checkpoint with tokens.pt, or with its tokenizer files and {PROMPTS_FILE})")
    tokens = _torch_load(d / "tokens.pt", "token tensors")
    if not isinstance(tokens, dict) or not {"clean", "corrupted"} <= set(tokens):
        raise UserError(f"{d / 'tokens.pt'} must hold a dict with 'clean' and 'corrupted' token tensors")
    unknown = sorted(set(tokens) - {"clean", "corrupted", "answer", "wrong"})
    if unknown:
        raise UserError(f"{d / 'tokens.pt'} has an unknown key {unknown[0]!r}: the keys are clean, corrupted and optionally answer, wrong")
    model = _model(d, config, device, dtype)
    clean = check_tokens(tokens["clean"], model, "clean tokens")
    corrupted = check_tokens(tokens["corrupted"], model, "corrupted tokens")
    if clean.shape != corrupted.shape:
        raise UserError(f"clean tokens {tuple(clean.shape)} and corrupted tokens {tuple(corrupted.shape)} in {d / 'tokens.pt'} differ in shape: they must be equal")
    answers = {k: _answer_ids(tokens[k], k, clean.shape[0], model, d) for k in ("answer", "wrong") if k in tokens}
    if "wrong" in answers and "answer" not in answers:
        raise UserError(f"{d / 'tokens.pt'} has 'wrong' without 'answer': a distractor needs an answer to be compared with")
    metrics = answer_metrics(answers.get("answer"), answers.get("wrong"))
    return Task(
        name=name or d.resolve().name,
        source=source or str(d.resolve()),
        model=model,
        clean=clean,
        corrupted=corrupted,
        metrics=metrics,
        default_metric=default_metric(metrics),
        description=f"task directory {d}",
        config=config,
    )


def _answer_ids(ids, key: str, rows: int, model, d: Path) -> torch.Tensor:
    """tokens.pt's answer or wrong: token ids [batch] or [batch, k] that fit the model."""
    where = f"{d / 'tokens.pt'} {key!r}"
    if not isinstance(ids, torch.Tensor) or ids.dtype not in (torch.int64, torch.int32) or ids.ndim not in (1, 2) or ids.shape[0] != rows or ids.numel() == 0:
        raise UserError(f"{where} must be an integer tensor [batch] or [batch, k] with batch = {rows} (the clean rows), got {getattr(ids, 'dtype', type(ids).__name__)} {tuple(getattr(ids, 'shape', ()))}")
    if int(ids.min()) < 0 or int(ids.max()) >= model.cfg.d_vocab:
        raise UserError(f"{where} has token ids outside the model's vocabulary 0..{model.cfg.d_vocab - 1}")
    return ids.long()
