"""Our hooked transformer against TransformerLens 4's own TransformerBridge, hook by hook.

acdc-tui converts Hugging Face checkpoints onto its own hooked transformer (the fast engine needs
one weight layout, and the bridge refuses shortformer and local attention). This checks that what
ACDC patches is exactly what TransformerLens 4 exposes for the same checkpoint: the logits and the
activations at the hook points the graph uses, under the same names.
"""

from __future__ import annotations

import pytest
import torch

import tasks
from tests.hf_families import write_checkpoint, write_tokens

HOOKS = ["blocks.0.attn.hook_result", "blocks.1.hook_q_input", "blocks.1.hook_k_input", "blocks.1.hook_v_input", "blocks.1.attn.hook_v", "blocks.1.hook_mlp_in", "blocks.1.hook_mlp_out", "blocks.1.hook_resid_post"]
# transformers computes RMSNorm in float32 whatever the model's dtype: Llama-style models agree to float32 rounding
TOLERANCE = {"gpt2": 1e-12, "pythia": 1e-12, "llama": 1e-5, "qwen2": 1e-5}


def _capture(model, tokens, names):
    cache = {}
    hooks = [(name, (lambda name: lambda x, hook: cache.__setitem__(name, x.detach().clone()))(name)) for name in names]
    with torch.no_grad():
        logits = model.run_with_hooks(tokens, fwd_hooks=hooks)
    return logits, cache


@pytest.mark.parametrize("family", sorted(TOLERANCE))
def test_hook_activations_equal_the_transformer_bridges(tmp_path, family):
    from transformer_lens.model_bridge.sources import build_bridge_from_module

    hf = write_checkpoint(tmp_path / family, family).double()
    write_tokens(tmp_path / family)
    bridge = build_bridge_from_module(hf, type(hf).__name__, hf_config=hf.config)
    bridge.set_use_split_qkv_input(True)
    bridge.set_use_attn_result(True)
    bridge.set_use_hook_mlp_in(True)
    task = tasks.load_task(None, str(tmp_path / family), "cpu", torch.float64)
    ours, our_cache = _capture(task.model, task.clean, HOOKS)
    theirs, their_cache = _capture(bridge, task.clean, HOOKS)
    scale = max(1.0, float(theirs.abs().max()))
    assert float((ours - theirs).abs().max()) <= TOLERANCE[family] * scale
    for name in HOOKS:
        assert our_cache[name].shape == their_cache[name].shape, name  # k/v inputs: one slice per KV head in both
        scale = max(1.0, float(their_cache[name].abs().max()))
        assert float((our_cache[name] - their_cache[name]).abs().max()) <= TOLERANCE[family] * scale, name
