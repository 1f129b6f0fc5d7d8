"""Helpers every family's weight conversion (acdc_tui/models/families/) shares.

Shapes: ours are TransformerLens's ([heads, d_model, d_head] for W_Q/W_K/W_V, [heads, d_head,
d_model] for W_O, [d_in, d_out] for MLP and unembedding matrices); nn.Linear stores [out, in].
"""

from __future__ import annotations

import torch

from acdc_tui.models.config import ModelConfig
from acdc_tui.models.rotary import RotaryTable

StateDict = dict[str, torch.Tensor]


def heads_in(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """nn.Linear weight [heads * d_head, d_model] -> [heads, d_model, d_head]."""
    return w.T.reshape(w.shape[1], n_heads, -1).permute(1, 0, 2)


def heads_out(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """nn.Linear weight [d_model, heads * d_head] -> [heads, d_head, d_model]."""
    return w.T.reshape(n_heads, -1, w.shape[0])


def bias(linear, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.zeros(shape) if linear.bias is None else linear.bias.detach().reshape(shape)


def norm(sd: StateDict, prefix: str, ln, one_plus: bool = False) -> None:
    """A norm's weight (and bias). `one_plus`: the module scales by 1 + w (Gemma); stored as 1 + w,
    computed in float64 so that float32 and float64 runs both get it correctly rounded."""
    w = ln.weight.detach()
    sd[f"{prefix}.w"] = 1.0 + w.double() if one_plus else w
    if getattr(ln, "bias", None) is not None:
        sd[f"{prefix}.b"] = ln.bias.detach()


def unembed(sd: StateDict, cfg: ModelConfig, lm_head) -> None:
    sd["unembed.W_U"] = lm_head.weight.detach().T
    sd["unembed.b_U"] = bias(lm_head, (cfg.d_vocab_out,))


def hf_rotary(rotary_emb, cfg: ModelConfig) -> RotaryTable:
    """Hugging Face's own inverse frequencies and scaling (any fixed rope type it computed them for)."""
    return RotaryTable(cfg.rotary_dim, inv_freq=rotary_emb.inv_freq, attention_scaling=float(getattr(rotary_emb, "attention_scaling", 1.0)))


def llama_style(hf, cfg: ModelConfig, qkv, gate_up, one_plus: bool = False) -> tuple[StateDict, RotaryTable]:
    """A Llama-shaped model (hf.model.layers[i].self_attn/.mlp, input/post-attention norms, final
    norm, rotary_emb): `qkv(attn)` gives the q, k, v nn.Linear-layout (weight, bias or None) triples,
    `gate_up(mlp)` the gate and up weights; per-head q/k norms (Qwen3) where the attention has them."""
    t, D, H, G = hf.model, cfg.d_model, cfg.n_heads, cfg.kv_heads
    sd: StateDict = {"embed.W_E": t.embed_tokens.weight.detach()}
    for l, layer in enumerate(t.layers):
        p, attn, mlp = f"blocks.{l}", layer.self_attn, layer.mlp
        norm(sd, f"{p}.ln1", layer.input_layernorm, one_plus)
        norm(sd, f"{p}.ln2", layer.post_attention_layernorm, one_plus)
        for x, (w, b), n in zip("QKV", qkv(attn), (H, G, G)):
            sd[f"{p}.attn.W_{x}"] = heads_in(w.detach(), n)
            sd[f"{p}.attn.b_{x}"] = torch.zeros(n, cfg.d_head) if b is None else b.detach().reshape(n, cfg.d_head)
        sd[f"{p}.attn.W_O"], sd[f"{p}.attn.b_O"] = heads_out(attn.o_proj.weight.detach(), H), bias(attn.o_proj, (D,))
        if cfg.use_qk_norm:
            norm(sd, f"{p}.attn.q_norm", attn.q_norm, one_plus)
            norm(sd, f"{p}.attn.k_norm", attn.k_norm, one_plus)
        gate, up = gate_up(mlp)
        sd[f"{p}.mlp.W_gate"], sd[f"{p}.mlp.W_in"] = gate.detach().T, up.detach().T
        sd[f"{p}.mlp.W_out"] = mlp.down_proj.weight.detach().T
        sd[f"{p}.mlp.b_in"], sd[f"{p}.mlp.b_out"] = torch.zeros(cfg.d_mlp), torch.zeros(D)
    norm(sd, "ln_final", t.norm, one_plus)
    unembed(sd, cfg, hf.get_output_embeddings())
    return sd, hf_rotary(t.rotary_emb, cfg)


def separate_qkv(attn) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """q_proj, k_proj, v_proj as (weight, bias or None)."""
    return [(p.weight, p.bias) for p in (attn.q_proj, attn.k_proj, attn.v_proj)]


def separate_gate_up(mlp) -> tuple[torch.Tensor, torch.Tensor]:
    return mlp.gate_proj.weight, mlp.up_proj.weight
