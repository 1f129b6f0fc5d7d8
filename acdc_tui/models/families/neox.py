"""GPT-NeoX / Pythia (fused query_key_value, per head q, k, v rows) and GPT-J (separate projections,
one LayerNorm for attention and MLP, adjacent-pair rotary)."""

from __future__ import annotations

import torch

from acdc_tui.models.config import ModelConfig
from acdc_tui.models.hf_weights import StateDict, bias, heads_in, heads_out, hf_rotary, norm, unembed
from acdc_tui.models.rotary import RotaryTable


def convert(hf, cfg: ModelConfig) -> tuple[StateDict, RotaryTable | None]:
    return gptj(hf, cfg) if hf.config.model_type == "gptj" else gpt_neox(hf, cfg)


def gpt_neox(hf, cfg: ModelConfig) -> tuple[StateDict, RotaryTable | None]:
    t, D, H, dh = hf.gpt_neox, cfg.d_model, cfg.n_heads, cfg.d_head
    sd: StateDict = {"embed.W_E": t.embed_in.weight.detach()}
    for l, layer in enumerate(t.layers):
        p, attn = f"blocks.{l}", layer.attention
        norm(sd, f"{p}.ln1", layer.input_layernorm)
        norm(sd, f"{p}.ln2", layer.post_attention_layernorm)
        W = attn.query_key_value.weight.detach().reshape(H, 3, dh, D)  # per head: q, k, v rows
        b = bias(attn.query_key_value, (H, 3, dh))
        for i, x in enumerate("QKV"):
            sd[f"{p}.attn.W_{x}"], sd[f"{p}.attn.b_{x}"] = W[:, i].transpose(1, 2), b[:, i]
        sd[f"{p}.attn.W_O"], sd[f"{p}.attn.b_O"] = heads_out(attn.dense.weight.detach(), H), bias(attn.dense, (D,))
        sd[f"{p}.mlp.W_in"], sd[f"{p}.mlp.b_in"] = layer.mlp.dense_h_to_4h.weight.detach().T, bias(layer.mlp.dense_h_to_4h, (cfg.d_mlp,))
        sd[f"{p}.mlp.W_out"], sd[f"{p}.mlp.b_out"] = layer.mlp.dense_4h_to_h.weight.detach().T, bias(layer.mlp.dense_4h_to_h, (D,))
    norm(sd, "ln_final", t.final_layer_norm)
    unembed(sd, cfg, hf.get_output_embeddings())
    return sd, hf_rotary(t.rotary_emb, cfg)


def gptj(hf, cfg: ModelConfig) -> tuple[StateDict, RotaryTable | None]:
    t, D, H = hf.transformer, cfg.d_model, cfg.n_heads
    sd: StateDict = {"embed.W_E": t.wte.weight.detach()}
    for l, block in enumerate(t.h):
        p, attn = f"blocks.{l}", block.attn
        norm(sd, f"{p}.ln1", block.ln_1)
        norm(sd, f"{p}.ln2", block.ln_1)  # one LayerNorm feeds both attention and MLP
        for x, proj in zip("QKV", (attn.q_proj, attn.k_proj, attn.v_proj)):
            sd[f"{p}.attn.W_{x}"], sd[f"{p}.attn.b_{x}"] = heads_in(proj.weight.detach(), H), torch.zeros(H, cfg.d_head)
        sd[f"{p}.attn.W_O"], sd[f"{p}.attn.b_O"] = heads_out(attn.out_proj.weight.detach(), H), torch.zeros(D)
        sd[f"{p}.mlp.W_in"], sd[f"{p}.mlp.b_in"] = block.mlp.fc_in.weight.detach().T, block.mlp.fc_in.bias.detach()
        sd[f"{p}.mlp.W_out"], sd[f"{p}.mlp.b_out"] = block.mlp.fc_out.weight.detach().T, block.mlp.fc_out.bias.detach()
    norm(sd, "ln_final", t.ln_f)
    unembed(sd, cfg, hf.get_output_embeddings())
    rd = cfg.rotary_dim
    inv_freq = 1.0 / (10000 ** (torch.arange(0, rd, 2, dtype=torch.int64) / rd))  # as GPT-J's create_sinusoidal_positions
    return sd, RotaryTable(rd, adjacent_pairs=True, inv_freq=inv_freq)
