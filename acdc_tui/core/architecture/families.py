"""Which family a Hugging Face checkpoint belongs to, by its config's `model_type`.

The registry is the package's files: every module of acdc_tui/core/architecture that declares
MODEL_TYPES is a family (NAME, MODEL_TYPES, SUPPORTED, unsupported(hf), model_config(hf)); its weight
conversion is the file of the same name in acdc_tui/models/families/. Adding a family = adding
those two files.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from types import ModuleType
from typing import Any, Mapping

from acdc_tui.core.errors import UserError


def _discover() -> tuple[ModuleType, ...]:
    here = Path(__file__).parent
    modules = [importlib.import_module(f"{__package__}.{m.name}") for m in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name)]
    found = tuple(m for m in modules if hasattr(m, "MODEL_TYPES"))
    types = [t for f in found for t in f.MODEL_TYPES]
    assert len(types) == len(set(types)), f"a model type claimed by two families: {sorted(types)}"
    assert all(f.NAME == f.__name__.rsplit(".", 1)[-1] for f in found), "a family's NAME is its file's name"
    return found


FAMILIES: tuple[ModuleType, ...] = _discover()


def family_of(model_type: str) -> ModuleType | None:
    return next((f for f in FAMILIES if model_type in f.MODEL_TYPES), None)


def supported_model_types() -> list[str]:
    return [t for f in FAMILIES if f.SUPPORTED for t in f.MODEL_TYPES]


def describe_hf_config(hf: Mapping[str, Any], where: str = "the checkpoint") -> dict[str, Any]:
    """Our own model's config (HookedTransformerConfig-style keys, plus `family`) for a Hugging Face
    config dict; one line naming the architecture and what is missing when the graph cannot model it."""
    model_type = str(hf.get("model_type") or "")
    architecture = ", ".join(hf.get("architectures") or []) or model_type or "unknown"
    family = family_of(model_type)
    if family is None:
        raise UserError(
            f"{where}: architecture {architecture} (model_type {model_type!r}) is not one acdc-tui models; "
            f"supported model types are {', '.join(supported_model_types())}"
        )
    missing = family.unsupported(hf)
    if missing:
        raise UserError(f"{where}: architecture {architecture} cannot be modelled by the ACDC graph: {missing}")
    return {**family.model_config(hf), "family": family.NAME, "original_architecture": architecture}
