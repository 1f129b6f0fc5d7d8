"""The run recipe: what the user asked for, parsed once at the edge (the command line, `serve`, the
explorer) into one frozen value. The run process, `serve`, branch and resume carry it, and the journal
records it (meta `run_recipe`, journal schema version 2); nothing below the CLI sees argv.

Pure and light: no torch, so commands that load no model can read and write recipes.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acdc_tui.core.ablation import Ablation
from acdc_tui.core.errors import UserError
from acdc_tui.runs.experiment import Settings


@dataclass(frozen=True)
class RunOutputs:
    """The files a run writes: its circuit (`out`, in `format`), and optionally the log and DOT."""

    out: str | None = None
    log: str | None = None
    dot: str | None = None
    format: str = "json"


@dataclass(frozen=True)
class RunRecipe:
    """One run, as asked for. `task` (a builtin name) or `task_dir`; `model` replaces the task's model;
    `prompts` (a JSONL file) gives text prompts, tokenized by the model's tokenizer, `bos` how."""

    task: str | None = None
    task_dir: str | None = None
    model: str | None = None
    prompts: str | None = None  # text prompts (--prompts FILE)
    bos: str | None = None  # text prompts' BOS: auto (None), on or off
    metric: str | None = None  # None: the task's default
    tau: float = 0.01
    ablation: Ablation = Ablation.CORRUPTED
    abs_value_threshold: bool = False
    tree_shaking: bool = False
    engine: str = "fast"
    device: str = "cpu"
    dtype: str = "float32"
    pins: tuple[str, ...] = ()  # edges as SENDER->RECEIVER text
    force_prunes: tuple[str, ...] = ()
    prefilter: str | None = None  # "eap:F" / "eap-ig:F": not the reference algorithm
    outputs: RunOutputs = field(default_factory=RunOutputs)

    def settings(self, threshold: float | None = None) -> Settings:
        """The experiment's settings (`threshold` instead of τ: a sweep's point)."""
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(Settings) if f.name != "threshold"}  # the same names
        return Settings(threshold=self.tau if threshold is None else threshold, **shared)

    def replace(self, **changes: Any) -> "RunRecipe":
        return dataclasses.replace(self, **changes)

    def with_outputs(self, **changes: Any) -> "RunRecipe":
        return dataclasses.replace(self, outputs=dataclasses.replace(self.outputs, **changes))

    def loading(self) -> dict:
        """How to load the task again (the journal's `recipe`): task, task_dir, model_path, device,
        dtype, prompts, bos, with paths made absolute."""
        absolute = lambda p: None if p is None else str(Path(p).resolve())  # noqa: E731
        return {
            "task": self.task,
            "task_dir": absolute(self.task_dir),
            "model_path": absolute(self.model),
            "device": self.device,
            "dtype": self.dtype,
            "prompts": absolute(self.prompts),
            "bos": self.bos,
        }

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["ablation"] = self.ablation.value
        data["pins"], data["force_prunes"] = list(self.pins), list(self.force_prunes)
        return data

    @classmethod
    def from_json(cls, data: dict) -> "RunRecipe":
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["ablation"] = Ablation(values.get("ablation", Ablation.CORRUPTED.value))
        values["pins"], values["force_prunes"] = tuple(values.get("pins", ())), tuple(values.get("force_prunes", ()))
        outputs = values.get("outputs") or {}
        values["outputs"] = RunOutputs(**{k: v for k, v in outputs.items() if k in {f.name for f in dataclasses.fields(RunOutputs)}})
        return cls(**values)

    @classmethod
    def from_meta(cls, meta: dict) -> "RunRecipe":
        """A journal's recipe: its `run_recipe` (schema version 2), or, for a journal of version 1,
        rebuilt from what it recorded (`recipe`, `settings`, `outputs`)."""
        if meta.get("run_recipe"):
            return cls.from_json(meta["run_recipe"])
        loading, settings, files = meta.get("recipe", {}), meta.get("settings", {}), meta.get("outputs") or {}
        return cls(
            task=loading.get("task"),
            task_dir=loading.get("task_dir"),
            model=loading.get("model_path"),
            prompts=loading.get("prompts"),
            bos=loading.get("bos"),
            metric=settings.get("metric"),
            tau=float(settings.get("threshold", 0.0)),
            ablation=Ablation.of_flags(settings),
            abs_value_threshold=bool(settings.get("abs_value_threshold")),
            tree_shaking=bool(settings.get("tree_shaking")),
            engine=settings.get("engine", "fast"),
            device=settings.get("device", loading.get("device", "cpu")),
            dtype=settings.get("dtype", loading.get("dtype", "float32")),
            pins=tuple(settings.get("pins", ())),
            force_prunes=tuple(settings.get("force_prunes", ())),
            prefilter=settings.get("prefilter"),
            outputs=RunOutputs(files.get("out"), files.get("log"), files.get("dot"), files.get("format") or "json"),
        )

    def write(self, path: Path) -> None:
        """For the run process: a recipe file it reads (and removes) as it starts."""
        path.write_text(json.dumps(self.to_json()))

    @classmethod
    def read(cls, path: Path) -> "RunRecipe":
        try:
            return cls.from_json(json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError) as e:
            raise UserError(f"cannot read the run recipe {path}: {e}") from None
