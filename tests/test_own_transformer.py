"""Our hooked transformer against TransformerLens 3.9's HookedTransformer, recorded once in float64
(tests/data/record_tl39.py wrote tests/data/tl39_reference.pt before TL 4 replaced 3.9): same
logits, same seeded initialisation, the graph's hooks fire in the same order."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import tasks
from acdc_tui.core.graph import GraphSpec, build_graph
from acdc_tui.models import backend

REFERENCE = torch.load(Path(__file__).parent / "data" / "tl39_reference.pt", weights_only=False)["cases"]
CONFIG_CASES = sorted(k for k, c in REFERENCE.items() if not c.get("shipped"))
SHIPPED = sorted(k for k, c in REFERENCE.items() if c.get("shipped"))


def _tl39_weights(case: dict) -> dict:
    return case["weights"]  # TL 3.9's own names (grouped-query attention: _W_K, _b_K, ...)


@pytest.mark.parametrize("name", CONFIG_CASES)
def test_logits_equal_transformer_lens_3_9(name):
    case = REFERENCE[name]
    model = backend.build_model(case["config"], _tl39_weights(case), "cpu", torch.float64)
    want = case["logits"]
    got = backend.logits(model, case["tokens"])
    torch.testing.assert_close(got, want, rtol=0, atol=1e-10 * max(1.0, float(want.abs().max())))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_models_equal_transformer_lens_3_9(name):
    task = tasks.load_task(name, None, "cpu", torch.float64)
    case = REFERENCE[name]
    assert torch.equal(task.clean.cpu(), case["tokens"])
    want = case["logits"]
    torch.testing.assert_close(backend.logits(task.model, task.clean), want, rtol=0, atol=1e-10 * max(1.0, float(want.abs().max())))


@pytest.mark.parametrize("name", CONFIG_CASES)
def test_seeded_initialisation_is_transformer_lens_3_9s(name):
    """The test fixtures' weights (tests/conftest.py) are the ones the thresholds were chosen on."""
    case = REFERENCE[name]
    torch.manual_seed(case["seed"])
    model = backend.build_model(case["config"], None)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    ours = {k: v.detach() for k, v in model.named_parameters()}
    theirs = {k.replace("attn._W_", "attn.W_").replace("attn._b_", "attn.b_"): v for k, v in _tl39_weights(case).items()}
    assert list(ours) == list(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


@pytest.mark.parametrize("name", CONFIG_CASES + SHIPPED)
def test_graph_hooks_fire_in_transformer_lens_3_9s_order(name):
    case = REFERENCE[name]
    if case.get("shipped"):
        task = tasks.load_task(name)
        model, use_pos = task.model, task.use_pos_embed
    else:
        model, use_pos = backend.build_model(case["config"], None), False
    graph_names = build_graph(GraphSpec.from_config(model.cfg, use_pos_embed=use_pos)).hook_names()
    theirs = [n for n in dict.fromkeys(case["firing_order"]) if n in graph_names]
    ours = [n for n in backend.hook_firing_order(model, case["tokens"][:1]) if n in graph_names]
    assert ours == theirs and set(ours) == set(graph_names)
