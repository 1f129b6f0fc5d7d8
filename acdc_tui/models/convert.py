"""Hugging Face checkpoints -> our transformer's parameters: the registry of conversions, one per
family, built from the files of acdc_tui/models/families/ (each named as its family's wiring file in
acdc_tui/core/architecture/, with a `convert(hf, cfg)` function). Shared helpers: hf_weights.py.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Callable


def _discover() -> dict[str, Callable]:
    here = Path(__file__).parent / "families"
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]))
    return {name: importlib.import_module(f"{__package__}.families.{name}").convert for name in names}


CONVERTERS: dict[str, Callable] = _discover()  # family name -> convert(hf, cfg) -> (state dict, rotary table or None)
