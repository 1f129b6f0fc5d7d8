"""Tasks: a model, clean and patch data, metrics and (optionally) a ground-truth circuit.

Imports are lazy so that `import tasks` is cheap and pulls in no model code.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from tasks.task import Task

DEFAULT_TASK = "tracr-reverse"


def _builtin() -> dict[str, Callable[..., "Task"]]:
    from tasks.hub_tasks import docstring, greaterthan, induction_redwood, ioi
    from tasks.induction_task import induction
    from tasks.tracr_tasks import tracr_proportion, tracr_reverse

    return {
        "tracr-reverse": tracr_reverse,
        "tracr-proportion": tracr_proportion,
        "induction": induction,
        "ioi": ioi,
        "greaterthan": greaterthan,
        "docstring": docstring,
        "induction-redwood": induction_redwood,
    }


TASK_NAMES = ("tracr-reverse", "tracr-proportion", "induction", "tiny-ioi", "ioi", "greaterthan", "docstring", "induction-redwood")

# What `acdc-tui tasks` prints, without loading (hub tasks would download their models).
TASK_SUMMARIES = {
    "tracr-reverse": "tracr: reverse a length-3 sequence (4 layers, 1 head each, MLPs); metrics: l2; offline",
    "tracr-proportion": "tracr: running proportion of 'x' tokens (2 layers, MLPs); metrics: kl, l2 (default l2); offline",
    "induction": "induction on repeated random tokens, 2-layer attention-only model trained here; metrics: kl, nll (default kl; suggested τ 0.1); offline",
    "tiny-ioi": "IOI-style text prompts (prompts.jsonl) on a 2-layer GPT-2 trained here, with its own tokenizer; metrics: kl, logit_diff, nll, prob_diff (default logit_diff; suggested τ 0.3); offline",
    "ioi": "indirect object identification on GPT-2 small (hub); metrics: kl, logit_diff, nll, prob_diff (default kl)",
    "greaterthan": "greater-than on years, GPT-2 small (hub); metrics: greaterthan, kl (default greaterthan)",
    "docstring": "docstring argument completion on attn-only-4l (hub); metrics: docstring, kl (default docstring)",
    "induction-redwood": "induction on OpenWebText, redwood_attn_2l and its hub data; metrics: kl, nll (default kl)",
}
HUB_TASKS = ("ioi", "greaterthan", "docstring", "induction-redwood")
# Builtin tasks that are task directories with text prompts (tasks/text_task.py), shipped in the package.
TEXT_TASKS = {"tiny-ioi": Path(__file__).parent / "tiny_ioi"}


def check_task_name(name: str | None) -> None:
    """Refuse an unknown task name at once, before any model loads."""
    from acdc_tui.core.errors import UserError

    if (name or DEFAULT_TASK) not in TASK_NAMES:
        raise UserError(f"unknown task {name!r}: choose one of {', '.join(TASK_NAMES)}, or pass --task-dir DIR")


def load_task(name: str | None = None, task_dir: str | None = None, device: str = "cpu", dtype=None, model_path: str | None = None,
              prompts: str | None = None, bos: str | None = None) -> "Task":
    """A builtin task by name, or a task directory; `model_path` replaces the task's model with a
    local Hugging Face checkpoint directory (see acdc_tui.models.backend.load_checkpoint); `prompts`
    (a prompts.jsonl, with `model_path` or `task_dir`: the checkpoint and its tokenizer) makes a task
    from text, `bos` (auto, on, off) says whether its texts start with the tokenizer's BOS."""
    import torch

    from acdc_tui.core.errors import UserError

    dtype = dtype or torch.float32
    if task_dir is None and name in TEXT_TASKS:  # a builtin text task: a task directory shipped in the package
        if prompts is not None:
            raise UserError(f"--prompts replaces a task directory's prompts: pass --task-dir {TEXT_TASKS[name]} --prompts FILE instead of --task {name}")
        task_dir = str(TEXT_TASKS[name])
    elif prompts is not None and task_dir is None:
        if name is not None or model_path is None:
            raise UserError(f"--prompts needs the checkpoint with its tokenizer: pass --model DIR or --task-dir DIR{'' if name is None else f', not --task {name}'}")
        from tasks.text_task import load_text_task

        return load_text_task(model_path, prompts, device, dtype, bos or "auto")
    if task_dir is None:
        check_task_name(name)
    if task_dir is not None:
        from tasks.task_dir import PROMPTS_FILE, load_task_dir

        builtin_name = name if name in TEXT_TASKS else None
        if prompts is not None or (Path(task_dir) / PROMPTS_FILE).is_file():
            return load_task_dir(task_dir, device, dtype, prompts=prompts, bos=bos or "auto", model_path=model_path, name=builtin_name, source="builtin" if builtin_name else None)
        if bos not in (None, "auto"):
            raise UserError(f"--bos {bos} applies to text prompts ({PROMPTS_FILE}), and task directory {task_dir!r} holds tokens")
    elif bos not in (None, "auto"):
        raise UserError(f"--bos {bos} applies to text prompts, and task {name or DEFAULT_TASK} has none: pass --model DIR --prompts FILE or a --task-dir with {'prompts.jsonl'}")
    model = None
    if model_path is not None:
        from acdc_tui.models.backend import load_checkpoint

        model = load_checkpoint(model_path, device, dtype)
    if task_dir is not None:
        from tasks.task_dir import load_task_dir

        task = load_task_dir(task_dir, device, dtype)
        return task if model is None else _with_model(task, model, model_path)
    name = name or DEFAULT_TASK
    builtin = _builtin()
    if model is not None and name in HUB_TASKS:
        return builtin[name](device=device, dtype=dtype, model=model, model_path=model_path)
    task = builtin[name](device=device, dtype=dtype)
    return task if model is None else _with_model(task, model, model_path)


def _with_model(task: "Task", model, model_path: str) -> "Task":
    """The task with its model replaced; its token ids must fit the new model."""
    import dataclasses

    from acdc_tui.core.errors import UserError
    from tasks.task import check_tokens

    try:
        clean = check_tokens(task.clean.cpu(), model, "the task's clean tokens")
        corrupted = None if task.corrupted is None else check_tokens(task.corrupted.cpu(), model, "the task's corrupted tokens")
    except UserError as e:
        raise UserError(f"--model {model_path} does not fit task {task.name}: {e}") from None
    return dataclasses.replace(task, model=model, clean=clean, corrupted=corrupted, source=f"{task.source} with model {model_path}", ground_truth=None)
