"""Hugging Face checkpoints -> our transformer's parameters, one function per family.

Shapes: ours are TransformerLens's ([heads, d_model, d_head] for W_Q/W_K/W_V, [heads, d_head,
d_model] for W_O, [d_in, d_out] for MLP and unembedding matrices); nn.Linear stores [out, in].
"""

from __future__ import annotations

from typing import Callable

import torch

from acdc_tui.models.config import ModelConfig
from acdc_tui.models.rotary import RotaryTable

StateDict = dict[str, torch.Tensor]


def _heads_in(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """nn.Linear weight [heads * d_head, d_model] -> [heads, d_model, d_head]."""
    return w.T.reshape(w.shape[1], n_heads, -1).permute(1, 0, 2)


def _heads_out(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """nn.Linear weight [d_model, heads * d_head] -> [heads, d_head, d_model]."""
    return w.T.reshape(n_heads, -1, w.shape[0])


def _bias(linear, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.zeros(shape) if linear.bias is None else linear.bias.detach().reshape(shape)


def _ln(sd: StateDict, prefix: str, ln) -> None:
    sd[f"{prefix}.w"] = ln.weight.detach()
    if getattr(ln, "bias", None) is not None:
        sd[f"{prefix}.b"] = ln.bias.detach()


def _unembed(sd: StateDict, cfg: ModelConfig, lm_head) -> None:
    sd["unembed.W_U"] = lm_head.weight.detach().T
    sd["unembed.b_U"] = _bias(lm_head, (cfg.d_vocab_out,))


def _hf_rotary(rotary_emb, cfg: ModelConfig) -> RotaryTable:
    """Hugging Face's own inverse frequencies and scaling (any rope type it computed them for)."""
    return RotaryTable(cfg.rotary_dim, inv_freq=rotary_emb.inv_freq, attention_scaling=float(getattr(rotary_emb, "attention_scaling", 1.0)))


def gpt2(hf, cfg: ModelConfig) -> tuple[StateDict, RotaryTable | None]:
    t, D, H = hf.transformer, cfg.d_model, cfg.n_heads
    sd: StateDict = {"embed.W_E": t.wte.weight.detach(), "pos_embed.W_pos": t.wpe.weight.detach()[: cfg.n_ctx]}
    for l, block in enumerate(t.h):
        p = f"blocks.{l}"
        _ln(sd, f"{p}.ln1", block.ln_1)
        _ln(sd, f"{p}.ln2", block.ln_2)
        W, b = block.attn.c_attn.weight.detach(), block.attn.c_attn.bias.detach()  # Conv1D: [D, 3D], x @ W
        for i, x in enumerate("QKV"):
            sd[f"{p}.attn.W_{x}"] = W[:, i * D : (i + 1) * D].reshape(D, H, -1).permute(1, 0, 2)
            sd[f"{p}.attn.b_{x}"] = b[i * D : (i + 1) * D].reshape(H, -1)
        sd[f"{p}.attn.W_O"] = block.attn.c_proj.weight.detach().reshape(H, -1, D)
        sd[f"{p}.attn.b_O"] = block.attn.c_proj.bias.detach()
        sd[f"{p}.mlp.W_in"], sd[f"{p}.mlp.b_in"] = block.mlp.c_fc.weight.detach(), block.mlp.c_fc.bias.detach()
        sd[f"{p}.mlp.W_out"], sd[f"{p}.mlp.b_out"] = block.mlp.c_proj.weight.detach(), block.mlp.c_proj.bias.detach()
    _ln(sd, "ln_final", t.ln_f)
    _unembed(sd, cfg, hf.get_output_embeddings())
    return sd, None


def gpt_neox(hf, cfg: ModelConfig) -> tuple[StateDict, RotaryTable | None]:
    t, D, H, dh = hf.gpt_neox, cfg.d_model, cfg.n_heads, cfg.d_head
    sd: StateDict = {"embed.W_E": t.embed_in.weight.detach()}
    for l, layer in enumerate(t.layers):
        p, attn = f"blocks.{l}", layer.attention
        _ln(sd, f"{p}.ln1", layer.input_layernorm)
        _ln(sd, f"{p}.ln2", layer.post_attention_layernorm)
        W = attn.query_key_value.weight.detach().reshape(H, 3, dh, D)  # per head: q, k, v rows
        b = _bias(attn.query_key_value, (H, 3, dh))
        for i, x in enumerate("QKV"):
            sd[f"{p}.attn.W_{x}"], sd[f"{p}.attn.b_{x}"] = W[:, i].transpose(1, 2), b[:, i]
        sd[f"{p}.attn.W_O"], sd[f"{p}.attn.b_O"] = _heads_out(attn.dense.weight.detach(), H), _bias(attn.dense, (D,))
        sd[f"{p}.mlp.W_in"], sd[f"{p}.mlp.b_in"] = layer.mlp.dense_h_to_4h.weight.detach().T, _bias(layer.mlp.dense_h_to_4h, (cfg.d_mlp,))
        sd[f"{p}.mlp.W_out"], sd[f"{p}.mlp.b_out"] = layer.mlp.dense_4h_to_h.weight.detach().T, _bias(layer.mlp.dense_4h_to_h, (D,))
    _ln(sd, "ln_final", t.final_layer_norm)
    _unembed(sd, cfg, hf.get_output_embeddings())
    return sd, _hf_rotary(t.rotary_emb, cfg)


def gptj(hf, cfg: ModelConfig) -> tuple[StateDict, RotaryTable | None]:
    t, D, H = hf.transformer, cfg.d_model, cfg.n_heads
    sd: StateDict = {"embed.W_E": t.wte.weight.detach()}
    for l, block in enumerate(t.h):
        p, attn = f"blocks.{l}", block.attn
        _ln(sd, f"{p}.ln1", block.ln_1)
        _ln(sd, f"{p}.ln2", block.ln_1)  # one LayerNorm feeds both attention and MLP
        for x, proj in zip("QKV", (attn.q_proj, attn.k_proj, attn.v_proj)):
            sd[f"{p}.attn.W_{x}"], sd[f"{p}.attn.b_{x}"] = _heads_in(proj.weight.detach(), H), torch.zeros(H, cfg.d_head)
        sd[f"{p}.attn.W_O"], sd[f"{p}.attn.b_O"] = _heads_out(attn.out_proj.weight.detach(), H), torch.zeros(D)
        sd[f"{p}.mlp.W_in"], sd[f"{p}.mlp.b_in"] = block.mlp.fc_in.weight.detach().T, block.mlp.fc_in.bias.detach()
        sd[f"{p}.mlp.W_out"], sd[f"{p}.mlp.b_out"] = block.mlp.fc_out.weight.detach().T, block.mlp.fc_out.bias.detach()
    _ln(sd, "ln_final", t.ln_f)
    _unembed(sd, cfg, hf.get_output_embeddings())
    rd = cfg.rotary_dim
    inv_freq = 1.0 / (10000 ** (torch.arange(0, rd, 2, dtype=torch.int64) / rd))  # as GPT-J's create_sinusoidal_positions
    return sd, RotaryTable(rd, adjacent_pairs=True, inv_freq=inv_freq)


def llama(hf, cfg: ModelConfig) -> tuple[StateDict, RotaryTable | None]:
    """Llama, Mistral and Qwen2 (q/k/v biases where the checkpoint has them)."""
    t, D, H, G = hf.model, cfg.d_model, cfg.n_heads, cfg.kv_heads
    sd: StateDict = {"embed.W_E": t.embed_tokens.weight.detach()}
    for l, layer in enumerate(t.layers):
        p, attn, mlp = f"blocks.{l}", layer.self_attn, layer.mlp
        _ln(sd, f"{p}.ln1", layer.input_layernorm)
        _ln(sd, f"{p}.ln2", layer.post_attention_layernorm)
        for x, proj, n in (("Q", attn.q_proj, H), ("K", attn.k_proj, G), ("V", attn.v_proj, G)):
            sd[f"{p}.attn.W_{x}"], sd[f"{p}.attn.b_{x}"] = _heads_in(proj.weight.detach(), n), _bias(proj, (n, cfg.d_head))
        sd[f"{p}.attn.W_O"], sd[f"{p}.attn.b_O"] = _heads_out(attn.o_proj.weight.detach(), H), _bias(attn.o_proj, (D,))
        sd[f"{p}.mlp.W_gate"], sd[f"{p}.mlp.W_in"] = mlp.gate_proj.weight.detach().T, mlp.up_proj.weight.detach().T
        sd[f"{p}.mlp.W_out"] = mlp.down_proj.weight.detach().T
        sd[f"{p}.mlp.b_in"], sd[f"{p}.mlp.b_out"] = torch.zeros(cfg.d_mlp), torch.zeros(D)
    _ln(sd, "ln_final", t.norm)
    _unembed(sd, cfg, hf.get_output_embeddings())
    return sd, _hf_rotary(t.rotary_emb, cfg)


CONVERTERS: dict[str, Callable] = {"gpt2": gpt2, "gpt_neox": gpt_neox, "gptj": gptj, "llama": llama, "mistral": llama, "qwen2": llama}


def _one_plus(sd: StateDict, prefix: str, norm) -> None:
    """Gemma's RMSNorm scales by 1 + w, computed in float32 as transformers does: stored as our w."""
    sd[f"{prefix}.w"] = 1.0 + norm.weight.detach().float()


def gemma2(hf, cfg: ModelConfig) -> tuple[StateDict, list]:
    """Gemma-2 and Gemma-3 text: norms before and after attention and MLP, (Gemma-3) per-head q/k norms;
    one rotary table per layer (Gemma-3's local and global layers turn by their own frequencies)."""
    t, D, H, G = hf.model, cfg.d_model, cfg.n_heads, cfg.kv_heads
    sd: StateDict = {"embed.W_E": t.embed_tokens.weight.detach()}
    for l, layer in enumerate(t.layers):
        p, attn, mlp = f"blocks.{l}", layer.self_attn, layer.mlp
        _one_plus(sd, f"{p}.ln1", layer.input_layernorm)
        _one_plus(sd, f"{p}.ln1_post", layer.post_attention_layernorm)
        _one_plus(sd, f"{p}.ln2", layer.pre_feedforward_layernorm)
        _one_plus(sd, f"{p}.ln2_post", layer.post_feedforward_layernorm)
        for x, proj, n in (("Q", attn.q_proj, H), ("K", attn.k_proj, G), ("V", attn.v_proj, G)):
            sd[f"{p}.attn.W_{x}"], sd[f"{p}.attn.b_{x}"] = _heads_in(proj.weight.detach(), n), _bias(proj, (n, cfg.d_head))
        sd[f"{p}.attn.W_O"], sd[f"{p}.attn.b_O"] = _heads_out(attn.o_proj.weight.detach(), H), _bias(attn.o_proj, (D,))
        if getattr(attn, "q_norm", None) is not None:
            _one_plus(sd, f"{p}.attn.q_norm", attn.q_norm)
            _one_plus(sd, f"{p}.attn.k_norm", attn.k_norm)
        sd[f"{p}.mlp.W_gate"], sd[f"{p}.mlp.W_in"] = mlp.gate_proj.weight.detach().T, mlp.up_proj.weight.detach().T
        sd[f"{p}.mlp.W_out"] = mlp.down_proj.weight.detach().T
        sd[f"{p}.mlp.b_in"], sd[f"{p}.mlp.b_out"] = torch.zeros(cfg.d_mlp), torch.zeros(D)
    _one_plus(sd, "ln_final", t.norm)
    _unembed(sd, cfg, hf.get_output_embeddings())
    rope, types = t.rotary_emb, hf.config.layer_types
    if hasattr(rope, "inv_freq"):  # Gemma-2: one table
        table = _hf_rotary(rope, cfg)
        return sd, [table] * cfg.n_layers
    tables = {}
    for kind in set(types):  # Gemma-3: `{layer_type}_inv_freq` and its attention scaling
        tables[kind] = RotaryTable(cfg.rotary_dim, inv_freq=getattr(rope, f"{kind}_inv_freq"), attention_scaling=float(getattr(rope, f"{kind}_attention_scaling", 1.0)))
    return sd, [tables[k] for k in types]


def olmo2(hf, cfg: ModelConfig) -> tuple[StateDict, RotaryTable | None]:
    """OLMo-2: no norms before attention and MLP, norms after both; q/k RMSNorm over the full width."""
    t, D, H, G = hf.model, cfg.d_model, cfg.n_heads, cfg.kv_heads
    sd: StateDict = {"embed.W_E": t.embed_tokens.weight.detach()}
    for l, layer in enumerate(t.layers):
        p, attn, mlp = f"blocks.{l}", layer.self_attn, layer.mlp
        _ln(sd, f"{p}.ln1_post", layer.post_attention_layernorm)
        _ln(sd, f"{p}.ln2_post", layer.post_feedforward_layernorm)
        for x, proj, n in (("Q", attn.q_proj, H), ("K", attn.k_proj, G), ("V", attn.v_proj, G)):
            sd[f"{p}.attn.W_{x}"], sd[f"{p}.attn.b_{x}"] = _heads_in(proj.weight.detach(), n), _bias(proj, (n, cfg.d_head))
        sd[f"{p}.attn.W_O"], sd[f"{p}.attn.b_O"] = _heads_out(attn.o_proj.weight.detach(), H), _bias(attn.o_proj, (D,))
        sd[f"{p}.attn.q_norm_w"], sd[f"{p}.attn.k_norm_w"] = attn.q_norm.weight.detach(), attn.k_norm.weight.detach()
        sd[f"{p}.mlp.W_gate"], sd[f"{p}.mlp.W_in"] = mlp.gate_proj.weight.detach().T, mlp.up_proj.weight.detach().T
        sd[f"{p}.mlp.W_out"] = mlp.down_proj.weight.detach().T
        sd[f"{p}.mlp.b_in"], sd[f"{p}.mlp.b_out"] = torch.zeros(cfg.d_mlp), torch.zeros(D)
    _ln(sd, "ln_final", t.norm)
    _unembed(sd, cfg, hf.get_output_embeddings())
    return sd, _hf_rotary(t.rotary_emb, cfg)


CONVERTERS.update({"gemma2": gemma2, "gemma3_text": gemma2, "olmo2": olmo2})
