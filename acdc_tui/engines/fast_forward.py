"""A hand-written forward pass over a HookedTransformer's weights, in pieces the fast engine
recomputes one at a time: per-receiver q/k/v projections, attention for a subset of heads, an MLP,
the unembedding. Plain torch, no hooks; checked against the model's own logits at start-up.

Only what ACDC's graph models and the tests use is supported: standard (learned) positional
embeddings, LayerNorm / LNPre / no normalization, causal or bidirectional attention, non-gated MLPs
(any TransformerLens activation without its own LayerNorm) or attention-only models.
`unsupported_reason` names anything else, and the engine then falls back to the plain one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


def unsupported_reason(model) -> str | None:
    """Why this model's forward pass is not reproduced here (None: it is)."""
    cfg = model.cfg
    checks = [
        (getattr(cfg, "positional_embedding_type", "standard") != "standard", "non-standard positional embeddings"),
        (getattr(cfg, "normalization_type", None) not in (None, "LN", "LNPre"), f"normalization {cfg.normalization_type!r}"),
        (bool(getattr(cfg, "use_normalization_before_and_after", False)), "post-normalization"),
        (bool(getattr(cfg, "gated_mlp", False)), "gated MLPs"),
        (str(getattr(cfg, "act_fn", "") or "").endswith("_ln"), "an MLP activation with its own LayerNorm"),
        (bool(getattr(cfg, "use_qk_norm", False)), "q/k normalization"),
        (bool(getattr(cfg, "use_attention_sinks", False)), "attention sinks"),
        (bool(getattr(cfg, "use_logn_attn", False)), "log-n attention scaling"),
        (bool(getattr(cfg, "use_local_attn", False)), "local attention"),
        (bool(getattr(cfg, "use_attn_in", False)), "use_attn_in"),
        ((getattr(cfg, "attn_scores_soft_cap", -1.0) or -1.0) > 0, "attention soft-capping"),
        ((getattr(cfg, "output_logits_soft_cap", -1.0) or -1.0) > 0, "logit soft-capping"),
        (getattr(cfg, "n_key_value_heads", None) not in (None, cfg.n_heads), "grouped-query attention"),
        (getattr(cfg, "attention_dir", "causal") not in ("causal", "bidirectional"), f"attention_dir {getattr(cfg, 'attention_dir', None)!r}"),
        (cfg.dtype not in (torch.float32, torch.float64), f"dtype {cfg.dtype}"),
    ]
    for bad, what in checks:
        if bad:
            return what
    for block in model.blocks:
        if type(block.attn).__name__ != "Attention":
            return f"attention module {type(block.attn).__name__}"
        if getattr(block.attn, "_attention_dir_override", None) not in (None, cfg.attention_dir):
            return "a per-layer attention direction"
        if not cfg.attn_only and type(block.mlp).__name__ != "MLP":
            return f"MLP module {type(block.mlp).__name__}"
    return None


@dataclass
class Weights:
    """The parameters the forward pass reads, detached, per layer."""

    n_layers: int
    n_heads: int
    d_model: int
    d_head: int
    has_mlp: bool
    causal: bool
    norm: str | None  # "LN", "LNPre" or None
    eps: float
    attn_scale: list[float]
    W_qkv: list[torch.Tensor]  # [3, H, D, dh]
    b_qkv: list[torch.Tensor]  # [3, H, dh]
    W_O: list[torch.Tensor]  # [H, dh, D]
    b_O: list[torch.Tensor]  # [D]
    ln1: list[tuple]  # (w, b) or (None, None)
    ln2: list[tuple]
    W_in: list[torch.Tensor]
    b_in: list[torch.Tensor]
    W_out: list[torch.Tensor]
    b_out: list[torch.Tensor]
    act_fn: list[Callable[[torch.Tensor], torch.Tensor]]
    ln_final: tuple
    W_U: torch.Tensor
    b_U: torch.Tensor

    @classmethod
    def of(cls, model) -> "Weights":
        cfg = model.cfg
        norm = cfg.normalization_type

        def ln(module) -> tuple:
            return (module.w.detach(), module.b.detach()) if norm == "LN" and module is not None else (None, None)

        blocks = list(model.blocks)
        has_mlp = not cfg.attn_only
        return cls(
            n_layers=cfg.n_layers,
            n_heads=cfg.n_heads,
            d_model=cfg.d_model,
            d_head=cfg.d_head,
            has_mlp=has_mlp,
            causal=cfg.attention_dir == "causal",
            norm=norm,
            eps=float(cfg.eps),
            attn_scale=[float(b.attn.attn_scale) for b in blocks],
            W_qkv=[torch.stack([b.attn.W_Q, b.attn.W_K, b.attn.W_V]).detach() for b in blocks],
            b_qkv=[torch.stack([b.attn.b_Q, b.attn.b_K, b.attn.b_V]).detach() for b in blocks],
            W_O=[b.attn.W_O.detach() for b in blocks],
            b_O=[b.attn.b_O.detach() for b in blocks],
            ln1=[ln(b.ln1) for b in blocks],
            ln2=[ln(b.ln2) for b in blocks] if has_mlp else [],
            W_in=[b.mlp.W_in.detach() for b in blocks] if has_mlp else [],
            b_in=[b.mlp.b_in.detach() for b in blocks] if has_mlp else [],
            W_out=[b.mlp.W_out.detach() for b in blocks] if has_mlp else [],
            b_out=[b.mlp.b_out.detach() for b in blocks] if has_mlp else [],
            act_fn=[b.mlp.act_fn for b in blocks] if has_mlp else [],
            ln_final=ln(getattr(model, "ln_final", None)),
            W_U=model.unembed.W_U.detach(),
            b_U=model.unembed.b_U.detach(),
        )

    def normalize(self, x: torch.Tensor, wb: tuple) -> torch.Tensor:
        """TransformerLens's LayerNorm / LNPre over the last dimension (identity without normalization)."""
        if self.norm is None:
            return x
        x = x - x.mean(-1, keepdim=True)
        scale = (x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt()
        x = x / scale
        w, b = wb
        return x if w is None else x * w + b

    def attention(self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """z for [n, P, dh] queries, keys, values (n = heads x variants x batch)."""
        scores = torch.bmm(q, k.transpose(1, 2)) / self.attn_scale[layer]
        if self.causal:
            p = scores.shape[-1]
            keep = torch.ones(p, p, dtype=torch.bool, device=scores.device).tril()
            scores = torch.where(keep, scores, torch.tensor(-torch.inf, dtype=scores.dtype, device=scores.device))
        pattern = torch.softmax(scores, dim=-1)
        pattern = torch.where(torch.isnan(pattern), torch.zeros_like(pattern), pattern)
        return torch.bmm(pattern, v)

    def mlp(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """MLP output for [rows, D] inputs (before ln2 is applied: it is applied here)."""
        x = self.normalize(x, self.ln2[layer])
        pre = torch.addmm(self.b_in[layer], x, self.W_in[layer])
        return torch.addmm(self.b_out[layer], self.act_fn[layer](pre), self.W_out[layer])

    def unembed(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for [rows, D] final residual-stream values."""
        return torch.addmm(self.b_U, self.normalize(x, self.ln_final), self.W_U)
