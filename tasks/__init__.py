"""Tasks: a model, clean and patch data, metrics and (optionally) a ground-truth circuit.

Imports are lazy so that `import tasks` is cheap and pulls in no model code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .task import Task

DEFAULT_TASK = "tracr-reverse"


def _builtin() -> dict[str, Callable[..., "Task"]]:
    from .tracr_tasks import tracr_proportion, tracr_reverse

    return {"tracr-reverse": tracr_reverse, "tracr-proportion": tracr_proportion}


TASK_NAMES = ("tracr-reverse", "tracr-proportion")


def load_task(name: str | None = None, task_dir: str | None = None, device: str = "cpu", dtype=None) -> "Task":
    """A builtin task by name, or a task directory."""
    import torch

    from acdc_tui.errors import UserError

    dtype = dtype or torch.float32
    if task_dir is not None:
        from .task_dir import load_task_dir

        return load_task_dir(task_dir, device, dtype)
    name = name or DEFAULT_TASK
    builtin = _builtin()
    if name not in builtin:
        raise UserError(f"unknown task {name!r}: choose one of {', '.join(TASK_NAMES)}, or pass --task-dir DIR")
    return builtin[name](device=device, dtype=dtype)
