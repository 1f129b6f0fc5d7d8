"""Our hook points (acdc_tui/models/hook_points.py) behave as TransformerLens's HookPoint and
HookedRootModule for every call acdc-tui and the reference ACDC code make, and a run never imports
TransformerLens."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from acdc_tui.models.backend import build_model
from acdc_tui.models.hook_points import HookedRoot, HookPoint


def make_model(root_cls, point_cls):
    """x -> hook_in -> x * 2 -> inner.hook_mid -> x + 1 -> hook_out."""

    class Inner(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hook_mid = point_cls()

    class Model(root_cls):
        def __init__(self) -> None:
            super().__init__()
            self.hook_in = point_cls()
            self.inner = Inner()
            self.hook_out = point_cls()
            self.setup()

        def forward(self, x):
            return self.hook_out(self.inner.hook_mid(self.hook_in(x) * 2) + 1)

    return Model()


def script(model) -> list:
    """The same sequence of hook calls on either implementation; what every hook saw, and the outputs."""
    log: list = []

    def tag(label, replace=None):
        def hook(x, hook):
            log.append((label, hook.name, float(x.sum())))
            return None if replace is None else x + replace

        return hook

    x = torch.ones(3)
    log.append(("names", tuple(model.hook_dict), tuple(model.mod_dict)))
    model.add_hook("hook_in", tag("a", 10.0))
    model.add_hook("hook_in", tag("b"), prepend=True)  # runs before a
    model.add_hook(lambda name: name.endswith("mid"), tag("c", 1.0))
    model.add_perma_hook("hook_out", tag("perma"))
    log.append(("out", float(model(x).sum())))
    with model.hooks(fwd_hooks=[("hook_out", tag("ctx", -1.0)), (lambda n: "in" in n, tag("ctx_filter"))]):
        log.append(("out", float(model(x).sum())))
        with model.hooks(fwd_hooks=[("hook_in", tag("nested"))]):
            log.append(("out", float(model(x).sum())))
        log.append(("out", float(model(x).sum())))  # the nested hook is gone, the outer ones stay
    log.append(("out", float(model(x).sum())))
    model.reset_hooks()  # removes a, b, c but not the permanent hook
    log.append(("out", float(model(x).sum())))
    log.append(("out", float(model.run_with_hooks(x, fwd_hooks=[("inner.hook_mid", tag("rwh", 5.0))]).sum())))
    out, cache = model.run_with_cache(x, names_filter=lambda n: n != "hook_out")
    log.append(("cache", float(out.sum()), {k: v.tolist() for k, v in cache.items()}))
    model.reset_hooks(including_permanent=True)
    log.append(("out", float(model(x).sum())))
    return log


def test_same_behaviour_as_transformer_lens():
    tl_points = pytest.importorskip("transformer_lens.hook_points")
    tl_root = pytest.importorskip("transformer_lens.HookedRootModule")
    ours = script(make_model(HookedRoot, HookPoint))
    theirs = script(make_model(tl_root.HookedRootModule, tl_points.HookPoint))
    assert ours == theirs
    assert ("b", "hook_in", 3.0) in ours and ours.index(("b", "hook_in", 3.0)) < ours.index(("a", "hook_in", 3.0))


def test_hooks_replace_activations_of_our_transformer():
    torch.manual_seed(0)
    model = build_model({"n_layers": 1, "n_heads": 2, "d_model": 8, "d_head": 4, "d_mlp": 16, "d_vocab": 10, "n_ctx": 6, "act_fn": "gelu"}, None)
    tokens = torch.tensor([[1, 2, 3, 4]])
    clean = model(tokens)
    zeroed = model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.hook_mlp_out", lambda x, hook: torch.zeros_like(x))])
    _, cache = model.run_with_cache(tokens, names_filter=["blocks.0.hook_resid_mid"])
    assert list(cache) == ["blocks.0.hook_resid_mid"]
    want = torch.nn.functional.layer_norm(cache["blocks.0.hook_resid_mid"], (8,), model.ln_final.w, model.ln_final.b, model.cfg.eps) @ model.unembed.W_U + model.unembed.b_U
    assert torch.allclose(zeroed, want, atol=1e-5) and not torch.allclose(zeroed, clean)
    assert torch.equal(model(tokens), clean)  # the temporary hook is gone
    with pytest.raises(KeyError, match="not a hook point"):
        model.add_hook("blocks.0.attn", lambda x, hook: x)
    with pytest.raises(ValueError, match="forward hooks only"):
        model.add_hook("blocks.0.hook_mlp_out", lambda x, hook: x, dir="bwd")


def test_a_run_imports_neither_transformer_lens_nor_transformers(tmp_path):
    code = (
        "import sys\n"
        "from acdc_tui.cli.main import main\n"
        f"rc = main(['run', '--task', 'tracr-reverse', '--threshold', '0.01', '--quiet', '--out', {str(tmp_path / 'c.json')!r}, '--journal', {str(tmp_path / 'j.journal')!r}])\n"
        "print(rc, sorted(m for m in ('transformer_lens', 'transformers', 'datasets') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.stdout.splitlines()[-1] == "0 []", done.stdout + done.stderr
