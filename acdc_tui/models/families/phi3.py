"""Phi-3's weights: the fused qkv_proj split into its query, key and value rows (in that order, as
Phi3Attention slices them) and the fused gate_up_proj into gate and up halves (gate first, as
Phi3MLP's chunk(2))."""

from __future__ import annotations

from acdc_tui.models.config import ModelConfig
from acdc_tui.models.hf_weights import StateDict, llama_style
from acdc_tui.models.rotary import RotaryTable


def convert(hf, cfg: ModelConfig) -> tuple[StateDict, RotaryTable | None]:
    q_rows, kv_rows = cfg.n_heads * cfg.d_head, cfg.kv_heads * cfg.d_head

    def qkv(attn):
        w = attn.qkv_proj.weight
        b = attn.qkv_proj.bias
        cuts = (0, q_rows, q_rows + kv_rows, q_rows + 2 * kv_rows)
        return [(w[lo:hi], None if b is None else b[lo:hi]) for lo, hi in zip(cuts, cuts[1:])]

    def gate_up(mlp):
        gate, up = mlp.gate_up_proj.weight.chunk(2, dim=0)
        return gate, up

    return llama_style(hf, cfg, qkv, gate_up)
