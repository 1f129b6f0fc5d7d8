"""GPT-2's weights: Conv1D matrices (stored [in, out]), a fused c_attn for q, k, v."""

from __future__ import annotations

from acdc_tui.models.config import ModelConfig
from acdc_tui.models.hf_weights import StateDict, norm, unembed
from acdc_tui.models.rotary import RotaryTable


def convert(hf, cfg: ModelConfig) -> tuple[StateDict, RotaryTable | None]:
    t, D, H = hf.transformer, cfg.d_model, cfg.n_heads
    sd: StateDict = {"embed.W_E": t.wte.weight.detach(), "pos_embed.W_pos": t.wpe.weight.detach()[: cfg.n_ctx]}
    for l, block in enumerate(t.h):
        p = f"blocks.{l}"
        norm(sd, f"{p}.ln1", block.ln_1)
        norm(sd, f"{p}.ln2", block.ln_2)
        W, b = block.attn.c_attn.weight.detach(), block.attn.c_attn.bias.detach()  # Conv1D: [D, 3D], x @ W
        for i, x in enumerate("QKV"):
            sd[f"{p}.attn.W_{x}"] = W[:, i * D : (i + 1) * D].reshape(D, H, -1).permute(1, 0, 2)
            sd[f"{p}.attn.b_{x}"] = b[i * D : (i + 1) * D].reshape(H, -1)
        sd[f"{p}.attn.W_O"] = block.attn.c_proj.weight.detach().reshape(H, -1, D)
        sd[f"{p}.attn.b_O"] = block.attn.c_proj.bias.detach()
        sd[f"{p}.mlp.W_in"], sd[f"{p}.mlp.b_in"] = block.mlp.c_fc.weight.detach(), block.mlp.c_fc.bias.detach()
        sd[f"{p}.mlp.W_out"], sd[f"{p}.mlp.b_out"] = block.mlp.c_proj.weight.detach(), block.mlp.c_proj.bias.detach()
    norm(sd, "ln_final", t.ln_f)
    unembed(sd, cfg, hf.get_output_embeddings())
    return sd, None
