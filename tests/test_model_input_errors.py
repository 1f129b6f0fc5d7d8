"""Models and data that cannot give a metric: one clear line naming the problem, a non-zero exit,
never a traceback, never a run that "keeps everything" with null metrics (the CLI, as a user runs it)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import torch

from acdc_tui.cli.main import main


def _task_dir(tmp_path: Path, small_task_dir: Path, kind: str) -> Path:
    d = tmp_path / kind
    d.mkdir()
    for f in ("config.json", "weights.pt", "tokens.pt"):
        (d / f).write_bytes((small_task_dir / f).read_bytes())
    config = orjson.loads((d / "config.json").read_bytes())
    weights, tokens = torch.load(d / "weights.pt"), torch.load(d / "tokens.pt")
    if kind in ("nan", "inf"):
        weights["blocks.1.attn.W_V"][0, 0, 0] = float(kind)
        torch.save(weights, d / "weights.pt")
    elif kind == "empty-batch":
        torch.save({k: v[:0] for k, v in tokens.items()}, d / "tokens.pt")
    elif kind == "zero-positions":
        torch.save({k: v[:, :0] for k, v in tokens.items()}, d / "tokens.pt")
    elif kind == "huge":
        (d / "config.json").write_bytes(orjson.dumps({**config, "n_ctx": 2**31, "d_model": 2**20}))
    elif kind == "beyond-any-model":
        (d / "config.json").write_bytes(orjson.dumps({**config, "n_ctx": 10**12}))
    elif kind in ("type-string", "type-float"):
        (d / "config.json").write_bytes(orjson.dumps({**config, "n_layers": "two" if kind == "type-string" else 2.5}))
    elif kind == "non-positive":
        (d / "config.json").write_bytes(orjson.dumps({**config, "d_model": 0}))
    elif kind == "negative-heads":
        (d / "config.json").write_bytes(orjson.dumps({**config, "n_heads": -2}))
    elif kind == "zero-bytes":
        (d / "weights.pt").write_bytes(b"")
    elif kind == "unknown-key":
        (d / "config.json").write_bytes(orjson.dumps({**config, "n_layer": 2}))
    elif kind == "gemma-style":
        (d / "config.json").write_bytes(orjson.dumps({**config, "use_normalization_before_and_after": True}))
    return d


@pytest.mark.parametrize(
    ("kind", "needle"),
    [
        ("nan", "contains NaN or infinite values"),
        ("inf", "contains NaN or infinite values"),
        ("empty-batch", "an empty batch"),
        ("zero-positions", "has no positions"),
        ("huge", "GiB for its float32 weights"),
        ("beyond-any-model", "beyond any real model"),
        ("type-string", "'n_layers' is 'two', which is not a whole number"),
        ("type-float", "'n_layers' is 2.5, which is not a whole number"),
        ("non-positive", "sets 'd_model' to 0: sizes must be positive"),
        ("negative-heads", "sets 'n_heads' to -2: sizes must be positive"),
        ("zero-bytes", "is empty (0 bytes)"),
        ("unknown-key", "unknown key 'n_layer'"),
        ("gemma-style", "norms after attention and MLP"),
    ],
)
def test_models_and_data_that_cannot_give_a_metric(kind, needle, tmp_path, small_task_dir, capsys):
    d = _task_dir(tmp_path, small_task_dir, kind)
    assert main(["run", "--task-dir", str(d), "--threshold", "0.1", "--out", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert not (tmp_path / "c.json").exists()


@pytest.mark.parametrize("command", [["run", "--threshold", "0.1"], []])
def test_a_task_directory_that_is_a_file(command, tmp_path, capsys):
    f = tmp_path / "task.json"
    f.write_text("{}")
    assert main([*command, "--task-dir", str(f), "--out", str(tmp_path / "c.json"), *(["--headless", "--threshold", "0.1"] if not command else [])]) == 2
    err = capsys.readouterr().err.strip()
    assert "is a file, not a directory" in err and len(err.splitlines()) == 1, err


def test_a_model_path_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"x")
    assert main(["run", "--task", "tracr-reverse", "--model", str(f), "--threshold", "0.1", "--out", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "is a file, not a directory" in err and len(err.splitlines()) == 1, err
