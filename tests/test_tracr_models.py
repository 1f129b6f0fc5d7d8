"""The shipped tracr models: reproducible from tracr, and they compute their RASP programs exactly."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from acdc_tui.models.backend import new_model
from acdc_tui.models.config import parse_config
from tasks.build.tracr import build, diff, load

TRACR_DIR = Path(__file__).resolve().parents[1] / "tasks" / "tracr"
# Expected vocabularies written out independently of the shipped files (as vocab.json stores them).
VOCAB = {"reverse": ["1", "2", "3"], "proportion": ["w", "x", "y", "z"]}
PAD = "compiler_pad"  # tracr's fixed padding token


@pytest.mark.parametrize("task", sorted(VOCAB))
def test_rebuild_identical(task: str) -> None:
    pytest.importorskip("tracr")
    assert diff(load(TRACR_DIR / task), build(task)) == []


def _load_model(task: str):
    cfg, sd, vocab = load(TRACR_DIR / task)
    model = new_model(parse_config(cfg))
    result = model.load_state_dict(sd, strict=False)
    # Only buffers (attention masks etc.) may be absent from the shipped parameters.
    assert not result.unexpected_keys
    assert set(result.missing_keys).isdisjoint(dict(model.named_parameters()))
    assert set(sd) == set(dict(model.named_parameters()))
    return model.eval(), vocab


def _expected(task: str, seq: tuple[str, ...]) -> list:
    """Plain-Python semantics of the two RASP programs, one value per input position."""
    if task == "reverse":
        return list(reversed(seq))
    return [seq[: i + 1].count("x") / (i + 1) for i in range(len(seq))]


@pytest.mark.parametrize(
    "task, n_expected", [("reverse", 3 + 9 + 27 + 81 + 243), ("proportion", 4 + 16 + 64 + 256 + 1024)]
)
def test_model_computes_program(task: str, n_expected: int) -> None:
    model, vocab = _load_model(task)
    enc = vocab["input_encoding"]
    assert vocab["program"] == task and vocab["bos"] == "BOS"
    assert set(enc) == set(VOCAB[task]) | {vocab["bos"], PAD}
    decode = {i: tok for tok, i in (vocab["output_encoding"] or {}).items()}
    if task == "reverse":
        assert sorted(decode.values()) == VOCAB[task]
    else:
        assert vocab["output_encoding"] is None  # numerical output in residual dim 0

    n_tested = 0
    with torch.no_grad():
        for length in range(1, vocab["max_seq_len"] + 1):
            seqs = list(itertools.product(VOCAB[task], repeat=length))
            tokens = torch.tensor([[enc[vocab["bos"]]] + [enc[t] for t in s] for s in seqs])
            logits = model(tokens)[:, 1:]  # drop BOS position
            assert logits.shape == (len(seqs), length, model.cfg.d_vocab_out)
            for seq, out in zip(seqs, logits):
                if task == "reverse":
                    assert [decode[i] for i in out.argmax(-1).tolist()] == _expected(task, seq), seq
                else:
                    assert out[:, 0].tolist() == pytest.approx(_expected(task, seq), abs=1e-4), seq
            n_tested += len(seqs)
    assert n_tested == n_expected
