"""Gemma-2 and Gemma-3 (text) weights: norms before and after attention and MLP (stored as 1 + w),
Gemma-3's per-head q/k norms, one rotary table per layer (Gemma-3's local and global layers turn by
their own frequencies: transformers' `{layer_type}_inv_freq`, any fixed rope scaling included)."""

from __future__ import annotations

import torch

from acdc_tui.models.config import ModelConfig
from acdc_tui.models.hf_weights import StateDict, bias, heads_in, heads_out, hf_rotary, norm, unembed
from acdc_tui.models.rotary import RotaryTable


def text_model(hf):
    """The causal LM's decoder (Gemma-3's multimodal model keeps it as its language model)."""
    t = hf.model
    return getattr(t, "language_model", t)


def convert(hf, cfg: ModelConfig) -> tuple[StateDict, list]:
    t, D, H, G = text_model(hf), cfg.d_model, cfg.n_heads, cfg.kv_heads
    sd: StateDict = {"embed.W_E": t.embed_tokens.weight.detach()}
    for l, layer in enumerate(t.layers):
        p, attn, mlp = f"blocks.{l}", layer.self_attn, layer.mlp
        norm(sd, f"{p}.ln1", layer.input_layernorm, one_plus=True)
        norm(sd, f"{p}.ln1_post", layer.post_attention_layernorm, one_plus=True)
        norm(sd, f"{p}.ln2", layer.pre_feedforward_layernorm, one_plus=True)
        norm(sd, f"{p}.ln2_post", layer.post_feedforward_layernorm, one_plus=True)
        for x, proj, n in (("Q", attn.q_proj, H), ("K", attn.k_proj, G), ("V", attn.v_proj, G)):
            sd[f"{p}.attn.W_{x}"], sd[f"{p}.attn.b_{x}"] = heads_in(proj.weight.detach(), n), bias(proj, (n, cfg.d_head))
        sd[f"{p}.attn.W_O"], sd[f"{p}.attn.b_O"] = heads_out(attn.o_proj.weight.detach(), H), bias(attn.o_proj, (D,))
        if cfg.use_qk_norm:
            norm(sd, f"{p}.attn.q_norm", attn.q_norm, one_plus=True)
            norm(sd, f"{p}.attn.k_norm", attn.k_norm, one_plus=True)
        sd[f"{p}.mlp.W_gate"], sd[f"{p}.mlp.W_in"] = mlp.gate_proj.weight.detach().T, mlp.up_proj.weight.detach().T
        sd[f"{p}.mlp.W_out"] = mlp.down_proj.weight.detach().T
        sd[f"{p}.mlp.b_in"], sd[f"{p}.mlp.b_out"] = torch.zeros(cfg.d_mlp), torch.zeros(D)
    norm(sd, "ln_final", t.norm, one_plus=True)
    unembed(sd, cfg, hf.get_output_embeddings())
    rope = t.rotary_emb
    if hasattr(rope, "inv_freq"):  # Gemma-2: one table for every layer
        return sd, [hf_rotary(rope, cfg)] * cfg.n_layers
    types = t.config.layer_types
    tables = {
        kind: RotaryTable(cfg.rotary_dim, inv_freq=getattr(rope, f"{kind}_inv_freq"), attention_scaling=float(getattr(rope, f"{kind}_attention_scaling", 1.0)))
        for kind in set(types)
    }
    return sd, [tables[k] for k in types]
