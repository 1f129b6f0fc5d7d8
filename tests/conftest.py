"""Shared fixtures: small real models (random weights, fixed seeds) written as task directories."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import torch

from acdc_tui.core.ablation import Ablation


def pytest_configure(config):
    """Runs write their journals under $ACDC_TUI_OUTPUT: keep the tests' out of the working tree."""
    import os
    import tempfile

    os.environ.setdefault("ACDC_TUI_OUTPUT", tempfile.mkdtemp(prefix="acdc-tui-test-output-"))

SMALL_CONFIG = {
    "n_layers": 2,
    "n_heads": 2,
    "d_model": 16,
    "d_head": 8,
    "d_mlp": 32,
    "d_vocab": 20,
    "n_ctx": 8,
    "act_fn": "gelu",
    "normalization_type": "LN",
}
ATTN_ONLY_CONFIG = {
    "n_layers": 2,
    "n_heads": 3,
    "d_model": 12,
    "d_head": 4,
    "d_vocab": 15,
    "n_ctx": 8,
    "attn_only": True,
    "act_fn": "relu",
    "normalization_type": None,
}

# GPT-2 small's graph (12 layers x 12 heads, MLPs: 32,923 tested edges) with narrow widths, so it runs on CPU
GPT2_SHAPED_CONFIG = {
    "n_layers": 12,
    "n_heads": 12,
    "d_model": 24,
    "d_head": 2,
    "d_mlp": 16,
    "d_vocab": 20,
    "n_ctx": 8,
    "act_fn": "gelu",
    "normalization_type": "LN",
}


def write_task_dir(directory: Path, config: dict, seed: int, batch: int = 4, pos: int = 6) -> Path:
    """A task directory for a randomly initialised model; weights scaled up so edges matter."""
    from acdc_tui.models.backend import build_model

    torch.manual_seed(seed)
    model = build_model(config, None)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_bytes(orjson.dumps(config))
    torch.save({k: v.detach().clone() for k, v in model.named_parameters()}, directory / "weights.pt")
    g = torch.Generator().manual_seed(seed + 1)
    clean = torch.randint(0, config["d_vocab"], (batch, pos), generator=g)
    corrupted = torch.randint(0, config["d_vocab"], (batch, pos), generator=g)
    torch.save({"clean": clean, "corrupted": corrupted}, directory / "tokens.pt")
    return directory


@pytest.fixture(scope="session")
def small_task_dir(tmp_path_factory) -> Path:
    return write_task_dir(tmp_path_factory.mktemp("small") / "small-mlp-ln", SMALL_CONFIG, seed=0)


@pytest.fixture(scope="session")
def attn_only_task_dir(tmp_path_factory) -> Path:
    return write_task_dir(tmp_path_factory.mktemp("attn") / "attn-only", ATTN_ONLY_CONFIG, seed=1)


@pytest.fixture
def local_runs():
    """A list to put tests.helpers.LocalRun objects in; each is stopped when the test ends."""
    runs: list = []
    yield runs
    while runs:
        runs.pop().close()


@pytest.fixture(scope="session")
def gpt2_shaped_task_dir(tmp_path_factory) -> Path:
    return write_task_dir(tmp_path_factory.mktemp("gpt2") / "gpt2-shaped", GPT2_SHAPED_CONFIG, seed=2)


@pytest.fixture(scope="session")
def finished_circuits(small_task_dir, attn_only_task_dir):
    """Real ACDC circuits: tracr (separate embed/pos inputs), a model with MLPs and LayerNorm, an attention-only model."""
    from acdc_tui.runs.experiment import to_circuit
    from tests.helpers import experiment

    out = {}
    for name, kwargs in {
        "tracr": dict(task_name="tracr-proportion", threshold=1e-6, ablation=Ablation.ZERO),
        "mlp": dict(task_dir=small_task_dir, threshold=0.02),
        "attn-only": dict(task_dir=attn_only_task_dir, threshold=0.02),
    }.items():
        exp = experiment(**kwargs)
        list(exp.run.events())
        out[name] = to_circuit(exp, 0.0, True)
    return out
