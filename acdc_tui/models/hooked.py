"""acdc-tui's own hooked transformer: a root module (hook_points.py: TransformerLens's HookedRootModule
API, without importing TransformerLens) whose HookPoints carry the ACDC hook names
in TransformerLens 3's firing order, for every family the graph models (GPT-2 with learned or
shortformer positions, GPT-NeoX / GPT-J with rotary positions and parallel attention and MLP,
Llama / Mistral / Qwen2 / Qwen3 / Gemma / Phi-3 with RMSNorm, gated MLPs, grouped-query attention,
per-head q/k norms, embedding scales, per-layer sliding windows).

Its logits equal TransformerLens 3.9's HookedTransformer on the same config and weights (recorded
test data, tests/data/tl39_reference.pt) and Hugging Face's on converted checkpoints. Parameter
names, shapes and registration order are HookedTransformer's, so task directories' weights.pt
load as they are and a seeded initialisation gives the same weights.

Hooks always on (ACDC needs them): per-head q/k/v inputs (`hook_q_input` [batch, pos, heads,
d_model]; k and v inputs have one slice per key/value head), per-head results (`hook_result`
[batch, pos, heads, d_model]) and the MLP input (`hook_mlp_in`).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from acdc_tui.models.config import ModelConfig
from acdc_tui.models.hook_points import HookedRoot, HookPoint
from acdc_tui.models.rotary import RotaryTable


def gelu_new(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh((2.0 / torch.pi) ** 0.5 * (x + 0.044715 * torch.pow(x, 3.0))))


def gelu_fast(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


ACTIVATIONS = {
    "relu": F.relu, "gelu": F.gelu, "silu": F.silu, "gelu_new": gelu_new, "gelu_fast": gelu_fast,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
}


class Norm(nn.Module):
    """LayerNorm, LNPre (no weights), RMSNorm or RMSPre over the last dimension."""

    def __init__(self, cfg: ModelConfig, kind: str | None = None, size: int | None = None) -> None:
        super().__init__()
        self.kind, self.eps = kind or cfg.normalization_type, cfg.eps
        size = size or cfg.d_model
        if self.kind in ("LN", "RMS"):
            self.w = nn.Parameter(torch.ones(size))
        if self.kind == "LN":
            self.b = nn.Parameter(torch.zeros(size))
        self.hook_scale, self.hook_normalized = HookPoint(), HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind in ("LN", "LNPre"):
            x = x - x.mean(-1, keepdim=True)
        scale = self.hook_scale((x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt())
        x = self.hook_normalized(x / scale)
        if self.kind == "LN":
            return x * self.w + self.b
        return x * self.w if self.kind == "RMS" else x


def make_norm(cfg: ModelConfig) -> nn.Module:
    return nn.Identity() if cfg.normalization_type is None else Norm(cfg)


def soft_cap(x: torch.Tensor, cap: float) -> torch.Tensor:
    """cap · tanh(x / cap), as Gemma-2 caps attention scores and logits (cap <= 0: off)."""
    return x if cap <= 0 else torch.tanh(x / cap) * cap


def rms_full_width(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm over the last dimension with weight w (OLMo-2's q/k norm over every head together)."""
    return x / (x.pow(2).mean(-1, keepdim=True) + eps).sqrt() * w


def full_width_heads(x_in: torch.Tensor, W: torch.Tensor, b: torch.Tensor, w_norm: torch.Tensor, eps: float) -> torch.Tensor:
    """OLMo-2's q (or k) per head from per-head inputs: head h projects ITS OWN input with every head's
    weights (the full-width projection), normalises over the full width, and keeps its own slice.
    With one input for all heads (nothing patched) this is the model's q_norm(q_proj(x)) exactly.
    x_in [batch, pos, heads, d_model], W [heads, d_model, d_head] -> [batch, pos, heads, d_head]."""
    n, D, dh = W.shape
    full = torch.einsum("bphd,de->bphe", x_in, W.permute(1, 0, 2).reshape(D, n * dh)) + b.reshape(n * dh)
    full = rms_full_width(full, w_norm, eps).view(*x_in.shape[:3], n, dh)
    idx = torch.arange(n, device=x_in.device)
    return full[:, :, idx, idx]


class Attention(nn.Module):
    """Multi-head attention from per-head inputs; k/v have `kv_heads` heads (grouped-query attention)."""

    def __init__(self, cfg: ModelConfig, layer: int, rotary: RotaryTable | None) -> None:
        super().__init__()
        H, G, D, dh = cfg.n_heads, cfg.kv_heads, cfg.d_model, cfg.d_head
        # registration order as HookedTransformer's (seeded initialisation gives the same weights)
        self.W_Q = nn.Parameter(torch.empty(H, D, dh))
        self.W_O = nn.Parameter(torch.empty(H, dh, D))
        self.b_Q = nn.Parameter(torch.zeros(H, dh))
        self.b_O = nn.Parameter(torch.zeros(D))
        self.W_K = nn.Parameter(torch.empty(G, D, dh))
        self.W_V = nn.Parameter(torch.empty(G, D, dh))
        self.b_K = nn.Parameter(torch.zeros(G, dh))
        self.b_V = nn.Parameter(torch.zeros(G, dh))
        self.full_width_qk = cfg.qk_norm_full_width
        if self.full_width_qk:  # OLMo-2: one RMSNorm over all query (key) heads together
            self.q_norm_w = nn.Parameter(torch.ones(H * dh))
            self.k_norm_w = nn.Parameter(torch.ones(G * dh))
        self.eps = cfg.eps
        self.soft_cap = cfg.attn_scores_soft_cap
        self.group = H // G
        self.causal = cfg.attention_dir == "causal"
        self.window = cfg.window_size if cfg.use_local_attn and cfg.attn_types[layer] == "local" else None
        scale = cfg.attn_scale if cfg.use_attn_scale else 1.0
        self.attn_scale = scale * (layer + 1) if cfg.scale_attn_by_inverse_layer_idx else scale
        self.rotary = rotary
        if cfg.use_qk_norm:  # per-head RMSNorm over d_head on q and k (Qwen3), part of the q/k computation
            self.q_norm, self.k_norm = Norm(cfg, "RMS", dh), Norm(cfg, "RMS", dh)
        for name in ("q", "k", "v", "rot_q", "rot_k", "attn_scores", "pattern", "z", "result"):
            setattr(self, f"hook_{name}", HookPoint())

    @staticmethod
    def project(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """[batch, pos, heads, d_model] x [heads, d_model, d_head] -> [batch, pos, heads, d_head]."""
        return torch.einsum("bphd,hde->bphe", x, W) + b

    def mask(self, n: int, device) -> torch.Tensor:
        """[query, key] True where attention is allowed."""
        q, k = torch.arange(n, device=device)[:, None], torch.arange(n, device=device)[None, :]
        allowed = (k <= q) if self.causal else torch.ones(n, n, dtype=torch.bool, device=device)
        return allowed & (k > q - self.window) if self.window is not None else allowed

    def forward(self, q_in: torch.Tensor, k_in: torch.Tensor, v_in: torch.Tensor) -> torch.Tensor:
        if self.full_width_qk:  # OLMo-2: each head normalises its own input's full-width projection
            q = full_width_heads(q_in, self.W_Q, self.b_Q, self.q_norm_w, self.eps)
            k = full_width_heads(k_in, self.W_K, self.b_K, self.k_norm_w, self.eps)
        else:
            q, k = self.project(q_in, self.W_Q, self.b_Q), self.project(k_in, self.W_K, self.b_K)  # [batch, pos, H or G, d_head]
        if hasattr(self, "q_norm"):  # inside the head's q/k computation: hook_q and hook_k see the normed values
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = self.hook_q(q), self.hook_k(k)
        v = self.hook_v(self.project(v_in, self.W_V, self.b_V))
        if self.rotary is not None:
            q, k = self.hook_rot_q(self.rotary.rotate(q)), self.hook_rot_k(self.rotary.rotate(k))
        if self.group > 1:
            k, v = k.repeat_interleave(self.group, dim=2), v.repeat_interleave(self.group, dim=2)
        scores = soft_cap(torch.einsum("bqhe,bkhe->bhqk", q, k) / self.attn_scale, self.soft_cap)
        n = scores.shape[-1]
        scores = self.hook_attn_scores(torch.where(self.mask(n, scores.device), scores, torch.tensor(-torch.inf, dtype=scores.dtype, device=scores.device)))
        pattern = F.softmax(scores, dim=-1)
        pattern = self.hook_pattern(torch.where(torch.isnan(pattern), torch.zeros_like(pattern), pattern))
        z = self.hook_z(torch.einsum("bhqk,bkhe->bqhe", pattern, v))  # [batch, pos, H, d_head]
        result = self.hook_result(torch.einsum("bphe,hed->bphd", z, self.W_O))  # [batch, pos, H, d_model]
        return result.sum(2) + self.b_O


class MLP(nn.Module):
    """act(x W_in + b_in) W_out + b_out, or gated: (act(x W_gate) * x W_in + b_in) W_out + b_out."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        D, M = cfg.d_model, cfg.d_mlp
        self.gated = cfg.gated_mlp
        self.W_in = nn.Parameter(torch.empty(D, M))
        if not self.gated:
            self.b_in = nn.Parameter(torch.zeros(M))
        self.W_out = nn.Parameter(torch.empty(M, D))
        if self.gated:
            self.W_gate = nn.Parameter(torch.empty(D, M))
            self.b_in = nn.Parameter(torch.zeros(M))
        self.b_out = nn.Parameter(torch.zeros(D))
        self.act = ACTIVATIONS[cfg.act_fn]
        self.hook_pre, self.hook_pre_linear, self.hook_post = HookPoint(), HookPoint(), HookPoint()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gated:
            post = self.hook_post(self.act(self.hook_pre(x @ self.W_gate)) * self.hook_pre_linear(x @ self.W_in) + self.b_in)
        else:
            post = self.hook_post(self.act(self.hook_pre(x @ self.W_in + self.b_in)))
        return post @ self.W_out + self.b_out


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int, rotary: RotaryTable | None) -> None:
        super().__init__()
        self.cfg = cfg
        self.ln1 = make_norm(cfg) if cfg.pre_norms else nn.Identity()
        if cfg.post_norms:
            self.ln1_post = make_norm(cfg)
        if not cfg.attn_only:
            self.ln2 = make_norm(cfg) if cfg.pre_norms else nn.Identity()
            if cfg.post_norms:
                self.ln2_post = make_norm(cfg)
        self.attn = Attention(cfg, layer, rotary)
        if not cfg.attn_only:
            self.mlp = MLP(cfg)
        names = ["resid_pre", "q_input", "k_input", "v_input", "attn_out", "mlp_in", "mlp_out", "resid_post"]
        if not cfg.attn_only and not cfg.parallel_attn_mlp:
            names.append("resid_mid")
        if cfg.post_norms:  # the post-attention norm's input: a graph node (Σ heads + b_O)
            names.append("attn_sum")
        for name in names:
            setattr(self, f"hook_{name}", HookPoint())

    def forward(self, resid: torch.Tensor, shortformer_pos: torch.Tensor | None = None) -> torch.Tensor:
        cfg = self.cfg
        resid_pre = self.hook_resid_pre(resid)  # [batch, pos, d_model]
        q_in = self.hook_q_input(resid_pre[:, :, None].expand(-1, -1, cfg.n_heads, -1).clone())  # [batch, pos, H, d_model]
        k_in = self.hook_k_input(resid_pre[:, :, None].expand(-1, -1, cfg.kv_heads, -1).clone())  # [batch, pos, G, d_model]
        v_in = self.hook_v_input(resid_pre[:, :, None].expand(-1, -1, cfg.kv_heads, -1).clone())
        extra = 0.0 if shortformer_pos is None else shortformer_pos[:, :, None]  # positions join q and k only
        attn_out = self.attn(self.ln1(q_in) + extra, self.ln1(k_in) + extra, self.ln1(v_in))
        if cfg.post_norms:  # the normed attention output is what joins the residual stream
            attn_out = self.ln1_post(self.hook_attn_sum(attn_out))
        attn_out = self.hook_attn_out(attn_out)
        if cfg.attn_only:
            return self.hook_resid_post(resid_pre + attn_out)
        if cfg.parallel_attn_mlp:
            mlp_out = self.hook_mlp_out(self.mlp(self.ln2(self.hook_mlp_in(resid_pre.clone()))))
            return self.hook_resid_post(resid_pre + attn_out + mlp_out)
        resid_mid = self.hook_resid_mid(resid_pre + attn_out)
        mlp_out = self.mlp(self.ln2(self.hook_mlp_in(resid_mid.clone())))
        if cfg.post_norms:  # inside the MLP node: pre-norm -> MLP -> post-norm is a function of the MLP input
            mlp_out = self.ln2_post(mlp_out)
        mlp_out = self.hook_mlp_out(mlp_out)
        return self.hook_resid_post(resid_mid + mlp_out)


class HookedModel(HookedRoot):
    """tokens [batch, pos] -> logits [batch, pos, d_vocab_out]."""

    def __init__(self, cfg: ModelConfig, rotary: RotaryTable | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Module()
        self.embed.W_E = nn.Parameter(torch.empty(cfg.d_vocab, cfg.d_model))
        self.hook_embed = HookPoint()
        if cfg.positional_embedding_type in ("standard", "shortformer"):
            self.pos_embed = nn.Module()
            self.pos_embed.W_pos = nn.Parameter(torch.empty(cfg.n_ctx, cfg.d_model))
            self.hook_pos_embed = HookPoint()
        if cfg.positional_embedding_type == "rotary" and rotary is None:
            rotary = RotaryTable(cfg.rotary_dim, cfg.rotary_base, cfg.rotary_adjacent_pairs, cfg.rotary_scaling_factor)
        self.rotary = rotary  # one table, or one per layer (Gemma-3: local and global layers turn differently)
        per_layer = rotary if isinstance(rotary, (list, tuple)) else [rotary] * cfg.n_layers
        self.blocks = nn.ModuleList(Block(cfg, layer, per_layer[layer]) for layer in range(cfg.n_layers))
        if cfg.normalization_type is not None:
            self.ln_final = make_norm(cfg)
        self.unembed = nn.Module()
        self.unembed.W_U = nn.Parameter(torch.empty(cfg.d_model, cfg.d_vocab_out))
        self.unembed.b_U = nn.Parameter(torch.zeros(cfg.d_vocab_out))
        self.setup()

    def init_weights(self, generator: torch.Generator | None = None) -> None:
        """HookedTransformer's "gpt2" initialisation: every W_ matrix ~ N(0, initializer_range)."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                if "W_" in name:
                    p.normal_(0.0, self.cfg.initializer_range, generator=generator)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        embed = self.embed.W_E[tokens]  # [batch, pos, d_model]
        if cfg.embed_scale is not None:  # Gemma: as transformers, the scale a float32 scalar cast to the weights' dtype
            embed = embed * torch.tensor(cfg.embed_scale, dtype=torch.float32).to(embed.dtype)
        resid = self.hook_embed(embed)
        shortformer = None
        if cfg.positional_embedding_type in ("standard", "shortformer"):
            pos = self.hook_pos_embed(self.pos_embed.W_pos[: tokens.shape[1]].expand(tokens.shape[0], -1, -1))
            if cfg.positional_embedding_type == "standard":
                resid = resid + pos
            else:
                shortformer = pos
        for block in self.blocks:
            resid = block(resid, shortformer)
        if cfg.normalization_type is not None:
            resid = self.ln_final(resid)
        return soft_cap(resid @ self.unembed.W_U + self.unembed.b_U, cfg.output_logits_soft_cap)
