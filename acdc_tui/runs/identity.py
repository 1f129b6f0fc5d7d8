"""What a run is, as its journal records it: enough to rebuild it (the recipe), to check that the
rebuilt model and data are the same (fingerprints), and to describe it in exported files."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import platform
import socket
from importlib import metadata
from pathlib import Path

import torch

from acdc_tui.runs.experiment import Experiment, Settings, describe, run_settings
from acdc_tui.runs.recipe import RunRecipe

PACKAGES = ("torch", "transformer-lens", "transformers", "textual", "networkx", "orjson", "numpy")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How to load the task again, with paths made absolute (a RunRecipe's `loading()`)."""

    task: str | None
    task_dir: str | None
    model_path: str | None
    device: str
    dtype: str
    prompts: str | None = None  # text prompts (--prompts)
    bos: str | None = None  # --bos for text prompts (None: auto)

    @classmethod
    def of(cls, task: str | None, task_dir: str | None, model_path: str | None, device: str, dtype: str, prompts: str | None = None, bos: str | None = None) -> "Recipe":
        absolute = lambda p: None if p is None else str(Path(p).resolve())  # noqa: E731
        return cls(task, absolute(task_dir), absolute(model_path), device, dtype, absolute(prompts), bos)


def data_fingerprint(exp: Experiment) -> str:
    """sha256 over the clean and patch token ids and the choices that shape the patch run."""
    h = hashlib.sha256()
    task = exp.task
    for name, tokens in (("clean", task.clean), ("corrupted", task.corrupted)):
        h.update(name.encode())
        if tokens is not None:
            h.update(str(tuple(tokens.shape)).encode())
            h.update(tokens.detach().to("cpu", torch.int64).contiguous().numpy().tobytes())
    h.update(f"{exp.metric_name}|{task.use_pos_embed}|{task.scramble_patch_positions}".encode())
    return "sha256:" + h.hexdigest()[:32]


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def journal_meta(exp: Experiment, recipe: Recipe | RunRecipe, kind: str = "run", outputs: dict | None = None, parent: dict | None = None) -> dict:
    """The journal's `meta` rows for a new job. Given a RunRecipe, it is recorded as `run_recipe` (with
    `recipe`, how to load the task, and `outputs` taken from it); given only how to load the task (a
    Recipe), `run_recipe` is made from that and the experiment's settings."""
    from acdc_tui import __version__

    run_recipe = recipe if isinstance(recipe, RunRecipe) else None
    if run_recipe is not None:
        recipe, outputs = Recipe(**run_recipe.loading()), outputs or dataclasses.asdict(run_recipe.outputs)
    task_info, model_info = describe(exp)
    tokens = exp.task.clean
    meta = {
        "kind": kind,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "acdc_tui_version": __version__,
        "packages": package_versions(),
        "host": socket.gethostname(),
        "recipe": dataclasses.asdict(recipe),
        "task": task_info,
        "model": model_info,
        "data": {"fingerprint": data_fingerprint(exp), "shape": list(tokens.shape)},
        "settings": {**dataclasses.asdict(exp.settings), **run_settings(exp)},
        "graph": {"n_nodes": len(exp.graph.nodes), "n_edges": len(exp.graph.edges), "n_tested": len(exp.graph.tested_edges), "use_pos_embed": exp.task.use_pos_embed},
        "outputs": outputs or {},
        "parent": parent,
    }
    meta["run_recipe"] = (run_recipe or RunRecipe.from_meta(meta)).to_json()
    return meta


def settings_from_meta(meta: dict) -> Settings:
    fields = {f.name for f in dataclasses.fields(Settings)}
    values = {k: v for k, v in meta["settings"].items() if k in fields}
    values["pins"], values["force_prunes"] = tuple(values.get("pins", ())), tuple(values.get("force_prunes", ()))
    return Settings(**values)
