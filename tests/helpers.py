"""Helpers for tests: build experiments on real small models."""

from __future__ import annotations

import torch

import tasks
from acdc_tui.runs.experiment import Experiment, Settings, prepare


def experiment(task_name: str | None = None, task_dir=None, dtype=torch.float64, **settings) -> Experiment:
    task = tasks.load_task(task_name, None if task_dir is None else str(task_dir), "cpu", dtype)
    settings.setdefault("threshold", 0.01)
    return prepare(task, Settings(dtype=str(dtype).removeprefix("torch."), **settings))


def final_state(exp: Experiment) -> dict:
    """Edge key -> (present, delta, decided_by), to compare runs edge by edge."""
    return {k: (r.present, r.delta, r.decided_by) for k, r in exp.run.records.items()}
