"""Record TransformerLens 3.9's HookedTransformer outputs once, as test data (run under TL 3.9 only).

    python tests/data/record_tl39.py        # writes tests/data/tl39_reference.pt

TransformerLens 4 has no HookedTransformer; acdc-tui's own hooked transformer
(acdc_tui/models/hooked.py) must reproduce it. For each case this stores the config, the weights
(TL 3.9's seeded initialisation plus the test fixtures' noise, as tests/conftest.py's
write_task_dir made them), the parameter names in registration order, clean tokens, the float64
logits and the order in which hooks fire. Kept for the record: it cannot run once TL 4 is installed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

FLAGS = {"use_attn_result": True, "use_split_qkv_input": True, "use_hook_mlp_in": True}
SMALL = {"n_layers": 2, "n_heads": 2, "d_model": 16, "d_head": 8, "d_mlp": 32, "d_vocab": 20, "n_ctx": 8, "act_fn": "gelu", "normalization_type": "LN"}
ATTN_ONLY = {"n_layers": 2, "n_heads": 3, "d_model": 12, "d_head": 4, "d_vocab": 15, "n_ctx": 8, "attn_only": True, "act_fn": "relu", "normalization_type": None}
ATTN4 = {**ATTN_ONLY, "n_layers": 4, "n_heads": 8, "d_model": 24, "d_head": 3, "d_vocab": 20}
LLAMA = {**SMALL, "n_heads": 4, "d_head": 4, "normalization_type": "RMS", "positional_embedding_type": "rotary", "gated_mlp": True, "act_fn": "silu", "n_key_value_heads": 2}
# (name, config, seed, batch, pos): the fixtures of tests/conftest.py first, then one case per feature
CASES = [
    ("small", SMALL, 0, 4, 6),
    ("attn_only", ATTN_ONLY, 1, 4, 6),
    ("attn4", ATTN4, 3, 3, 5),
    ("rms", {**SMALL, "normalization_type": "RMS"}, 5, 4, 6),
    ("lnpre", {**SMALL, "normalization_type": "LNPre", "act_fn": "gelu_new"}, 6, 4, 6),
    ("rmspre_gated", {**SMALL, "normalization_type": "RMSPre", "gated_mlp": True, "act_fn": "silu"}, 7, 4, 6),
    ("neox", {**SMALL, "positional_embedding_type": "rotary", "rotary_dim": 4, "parallel_attn_mlp": True}, 8, 4, 6),
    ("gptj", {**SMALL, "positional_embedding_type": "rotary", "rotary_dim": 4, "rotary_adjacent_pairs": True, "parallel_attn_mlp": True, "act_fn": "gelu_new"}, 9, 4, 6),
    ("llama_gqa", LLAMA, 10, 4, 6),
    ("shortformer", {**ATTN_ONLY, "normalization_type": "LN", "positional_embedding_type": "shortformer"}, 11, 4, 6),
    ("local", {**ATTN_ONLY, "normalization_type": "LN", "use_local_attn": True, "attn_types": ["local", "global"], "window_size": 2}, 12, 4, 6),
    ("bidirectional_vocab_out", {**SMALL, "attention_dir": "bidirectional", "d_vocab_out": 7, "normalization_type": None, "act_fn": "relu"}, 13, 4, 6),
    ("no_attn_scale", {**SMALL, "use_attn_scale": False, "eps": 1e-3, "act_fn": "gelu_fast"}, 14, 4, 6),
]


def case_from_weights(name, model, clean) -> dict:
    import transformer_lens as tl  # noqa: F401

    order: list[str] = []
    with torch.inference_mode(), model.hooks(fwd_hooks=[(n, lambda x, hook: order.append(hook.name)) for n in model.hook_dict]):
        model(clean[:1])
    model64 = model.to(torch.float64, print_details=False)
    with torch.inference_mode():
        logits = model64(clean)
    return {"logits": logits.clone(), "tokens": clean.clone(), "firing_order": order}


def main() -> None:
    import transformer_lens as tl

    assert tl.__version__.startswith("3.9") if hasattr(tl, "__version__") else True
    from acdc_tui.models import backend

    backend.check_supported = lambda cfg: None  # record every feature, also those the graph refused under 3.9
    build_model = backend.build_model

    out: dict = {"transformer_lens": getattr(tl, "__version__", "3.9"), "cases": {}}
    for name, config, seed, batch, pos in CASES:
        torch.manual_seed(seed)  # as tests/conftest.py's write_task_dir
        model = build_model(config, None)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.3)
        weights = {k: v.detach().clone() for k, v in model.named_parameters()}
        g = torch.Generator().manual_seed(seed + 1)
        clean = torch.randint(0, config["d_vocab"], (batch, pos), generator=g)
        case = case_from_weights(name, model, clean)
        out["cases"][name] = {"config": config, "seed": seed, "weights": weights, "param_order": list(weights), **case}
        print(name, tuple(case["logits"].shape), float(case["logits"].abs().max()))
    import tasks

    for name in ("tracr-reverse", "tracr-proportion", "induction"):
        task = tasks.load_task(name)
        case = case_from_weights(name, task.model, task.clean.cpu())
        out["cases"][name] = {"shipped": True, **case}
        print(name, tuple(case["logits"].shape))
    torch.save(out, Path(__file__).with_name("tl39_reference.pt"))


if __name__ == "__main__":
    main()
