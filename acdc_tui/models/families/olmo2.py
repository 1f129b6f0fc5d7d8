"""OLMo-2 weights: no norms before attention and MLP, norms after both; q/k RMSNorm weights over the
full width ([heads * d_head]), kept whole (each head's q computation uses all of it)."""

from __future__ import annotations

import torch

from acdc_tui.models.config import ModelConfig
from acdc_tui.models.hf_weights import StateDict, bias, heads_in, heads_out, hf_rotary, norm, unembed
from acdc_tui.models.rotary import RotaryTable


def convert(hf, cfg: ModelConfig) -> tuple[StateDict, RotaryTable | None]:
    t, D, H, G = hf.model, cfg.d_model, cfg.n_heads, cfg.kv_heads
    sd: StateDict = {"embed.W_E": t.embed_tokens.weight.detach()}
    for l, layer in enumerate(t.layers):
        p, attn, mlp = f"blocks.{l}", layer.self_attn, layer.mlp
        norm(sd, f"{p}.ln1_post", layer.post_attention_layernorm)
        norm(sd, f"{p}.ln2_post", layer.post_feedforward_layernorm)
        for x, proj, n in (("Q", attn.q_proj, H), ("K", attn.k_proj, G), ("V", attn.v_proj, G)):
            sd[f"{p}.attn.W_{x}"], sd[f"{p}.attn.b_{x}"] = heads_in(proj.weight.detach(), n), bias(proj, (n, cfg.d_head))
        sd[f"{p}.attn.W_O"], sd[f"{p}.attn.b_O"] = heads_out(attn.o_proj.weight.detach(), H), bias(attn.o_proj, (D,))
        sd[f"{p}.attn.q_norm_w"], sd[f"{p}.attn.k_norm_w"] = attn.q_norm.weight.detach(), attn.k_norm.weight.detach()
        sd[f"{p}.mlp.W_gate"], sd[f"{p}.mlp.W_in"] = mlp.gate_proj.weight.detach().T, mlp.up_proj.weight.detach().T
        sd[f"{p}.mlp.W_out"] = mlp.down_proj.weight.detach().T
        sd[f"{p}.mlp.b_in"], sd[f"{p}.mlp.b_out"] = torch.zeros(cfg.d_mlp), torch.zeros(D)
    norm(sd, "ln_final", t.norm)
    unembed(sd, cfg, hf.get_output_embeddings())
    return sd, hf_rotary(t.rotary_emb, cfg)
