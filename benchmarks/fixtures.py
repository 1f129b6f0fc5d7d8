"""Random-weight task directories of the shapes the benchmarks and manual checks use.

    .venv/bin/python benchmarks/fixtures.py NAME DIR      # write task directory DIR for fixture NAME

    medium       attention-only 4L x 8H, d_model 256, vocab 1000, data 20x24, KL (issue 12's fixture)
    mlp3         3 layers x 4H with MLPs and LayerNorm, d_model 128, vocab 500, data 16x16, KL
    gpt2-narrow  GPT-2-small-shaped graph (12L x 12H, MLPs: 32,923 edges) with narrow widths
                 (d_model 96, d_head 8, d_mlp 384), vocab 1000, data 8x12, KL: fast on a CPU
    gpt2-small   GPT-2 small's shape (12L x 12H, d_model 768, d_mlp 3072, vocab 50257), IOI-sized
                 data 50x15, KL

Weights are random (seed 0) and scaled up threefold so that edges matter; data seeded too.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FIXTURES: dict[str, tuple[dict, int, int]] = {
    "medium": ({"n_layers": 4, "n_heads": 8, "d_model": 256, "d_head": 32, "d_vocab": 1000, "n_ctx": 32, "attn_only": True, "act_fn": "gelu", "normalization_type": "LN"}, 20, 24),
    "mlp3": ({"n_layers": 3, "n_heads": 4, "d_model": 128, "d_head": 32, "d_mlp": 512, "d_vocab": 500, "n_ctx": 32, "act_fn": "gelu", "normalization_type": "LN"}, 16, 16),
    "gpt2-narrow": ({"n_layers": 12, "n_heads": 12, "d_model": 96, "d_head": 8, "d_mlp": 384, "d_vocab": 1000, "n_ctx": 32, "act_fn": "gelu_new", "normalization_type": "LN"}, 8, 12),
    "gpt2-small": ({"n_layers": 12, "n_heads": 12, "d_model": 768, "d_head": 64, "d_mlp": 3072, "d_vocab": 50257, "n_ctx": 1024, "act_fn": "gelu_new", "normalization_type": "LN"}, 50, 15),
}


def write_fixture(name: str, directory: str | Path, scale: float = 3.0) -> Path:
    import orjson
    import torch

    from acdc_tui.models.backend import build_model

    config, batch, pos = FIXTURES[name]
    torch.manual_seed(0)
    model = build_model(config, None)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / "config.json").write_bytes(orjson.dumps(config))
    torch.save({k: v.detach().clone() for k, v in model.named_parameters()}, d / "weights.pt")
    g = torch.Generator().manual_seed(1)
    clean, corrupted = (torch.randint(0, config["d_vocab"], (batch, pos), generator=g) for _ in range(2))
    torch.save({"clean": clean, "corrupted": corrupted}, d / "tokens.pt")
    return d


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in FIXTURES:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(FIXTURES)}}} DIR")
    print(write_fixture(sys.argv[1], sys.argv[2]))
