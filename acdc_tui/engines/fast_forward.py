"""A hand-written forward pass over our hooked transformer's weights, in pieces the fast engine
recomputes one at a time: per-receiver q/k/v projections, attention for a subset of heads, an MLP,
the unembedding. Plain torch, no hooks; checked against the model's own logits at start-up.

It covers every family the graph models; what differs between families lives here, one piece each:
the norm (LayerNorm, LNPre, RMSNorm, RMSPre, none), positions (learned ones enter the residual
stream; shortformer ones join q and k after the norm; rotary ones turn q and k), grouped-query
attention (k/v rows per key/value head, shared by the heads of a group), per-head q/k norms (Qwen3:
after the projection, before rotary), per-layer sliding windows (the model's own masks: keys k with
q - window < k <= q, as transformers' sliding_window_overlay), plain or gated MLPs, post-norm families
(the post-attention norm is a stage of its own, the post-MLP norm part of the MLP; no pre-norms for
OLMo-2; OLMo-2's q/k norm over the full width), soft-capped attention scores and logits, rotary tables
per layer (Gemma-3). Embedding scales (Gemma) act before the input nodes, whose values the engine
captures from the model. `unsupported_reason` names anything else, and the engine falls back to plain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch


def unsupported_reason(model) -> str | None:
    """Why this model's forward pass is not reproduced here (None: it is)."""
    if type(model).__name__ != "HookedModel":
        return f"model class {type(model).__name__}"
    dtype = model.unembed.W_U.dtype
    if dtype not in (torch.float32, torch.float64):
        return f"dtype {dtype}"
    return None


@dataclass
class Weights:
    """The parameters the forward pass reads, detached, per layer. K/V rows are padded to one per
    query head (rows past the key/value heads are zero and never read)."""

    n_layers: int
    n_heads: int
    kv_heads: int
    d_model: int
    d_head: int
    has_mlp: bool
    parallel: bool
    causal: bool
    windows: list[int | None]
    norm: str | None  # "LN", "LNPre", "RMS", "RMSPre" or None
    eps: float
    attn_scale: list[float]
    W_qkv: list[torch.Tensor]  # [3, H, D, dh]
    b_qkv: list[torch.Tensor]  # [3, H, dh]
    W_O: list[torch.Tensor]  # [H, dh, D]
    b_O: list[torch.Tensor]  # [D]
    ln1: list[tuple]  # (w or None, b or None)
    ln2: list[tuple]
    W_in: list[torch.Tensor]
    W_gate: list[torch.Tensor | None]
    b_in: list[torch.Tensor]
    W_out: list[torch.Tensor]
    b_out: list[torch.Tensor]
    act_fn: list[Callable[[torch.Tensor], torch.Tensor]]
    ln_final: tuple
    W_U: torch.Tensor
    b_U: torch.Tensor
    W_pos_qk: torch.Tensor | None  # shortformer: positions added to q and k inputs after the norm [n_ctx, D]
    rotary: list  # RotaryTable (or None) per layer
    qk_norm: list[tuple | None]  # per layer: (q norm weight [dh], k norm weight [dh]), or None
    post_norm: bool = False  # post-norm families: ln1_post after the heads' sum, ln2_post inside the MLP
    ln1_post: list | None = None
    ln2_post: list | None = None
    attn_cap: float = -1.0  # soft caps (<= 0: off)
    out_cap: float = -1.0
    qk_full: list | None = None  # OLMo-2, per layer: (W_Q [D, H*dh], b_Q, q norm w, W_K [D, G*dh], b_K, k norm w)

    @classmethod
    def of(cls, model) -> "Weights":
        cfg = model.cfg
        blocks = list(model.blocks)
        has_mlp = not cfg.attn_only
        H, G = cfg.n_heads, cfg.kv_heads

        def pad(t: torch.Tensor) -> torch.Tensor:  # [G, ...] -> [H, ...], zero rows past G
            return t if G == H else torch.cat([t, t.new_zeros(H - G, *t.shape[1:])])

        def norm(module) -> tuple | None:
            if isinstance(module, torch.nn.Identity) and cfg.normalization_type is not None:
                return None  # no norm here (OLMo-2 has none before attention and MLP)
            return (getattr(module, "w", None), getattr(module, "b", None)) if module is not None else (None, None)

        def detached(t):
            return None if t is None else t.detach()

        def detached_norm(wb: tuple | None) -> tuple | None:
            return None if wb is None else tuple(map(detached, wb))

        def full_width(attn) -> tuple:
            def flat(W, b):
                n, D, dh = W.shape
                return W.detach().permute(1, 0, 2).reshape(D, n * dh), b.detach().reshape(n * dh)

            return (*flat(attn.W_Q, attn.b_Q), attn.q_norm_w.detach(), *flat(attn.W_K, attn.b_K), attn.k_norm_w.detach())

        return cls(
            n_layers=cfg.n_layers, n_heads=H, kv_heads=G, d_model=cfg.d_model, d_head=cfg.d_head, has_mlp=has_mlp,
            parallel=cfg.parallel_attn_mlp, causal=cfg.attention_dir == "causal", windows=[b.attn.window for b in blocks],
            norm=cfg.normalization_type, eps=float(cfg.eps), attn_scale=[float(b.attn.attn_scale) for b in blocks],
            W_qkv=[torch.stack([b.attn.W_Q, pad(b.attn.W_K), pad(b.attn.W_V)]).detach() for b in blocks],
            b_qkv=[torch.stack([b.attn.b_Q, pad(b.attn.b_K), pad(b.attn.b_V)]).detach() for b in blocks],
            W_O=[b.attn.W_O.detach() for b in blocks], b_O=[b.attn.b_O.detach() for b in blocks],
            ln1=[detached_norm(norm(getattr(b, "ln1", None))) for b in blocks],
            ln2=[detached_norm(norm(getattr(b, "ln2", None))) for b in blocks] if has_mlp else [],
            W_in=[b.mlp.W_in.detach() for b in blocks] if has_mlp else [],
            W_gate=[detached(getattr(b.mlp, "W_gate", None)) for b in blocks] if has_mlp else [],
            b_in=[b.mlp.b_in.detach() for b in blocks] if has_mlp else [],
            W_out=[b.mlp.W_out.detach() for b in blocks] if has_mlp else [],
            b_out=[b.mlp.b_out.detach() for b in blocks] if has_mlp else [],
            act_fn=[b.mlp.act for b in blocks] if has_mlp else [],
            ln_final=tuple(map(detached, norm(getattr(model, "ln_final", None)))),
            W_U=model.unembed.W_U.detach(), b_U=model.unembed.b_U.detach(),
            W_pos_qk=model.pos_embed.W_pos.detach() if cfg.positional_embedding_type == "shortformer" else None,
            rotary=[b.attn.rotary for b in blocks],
            qk_norm=[(b.attn.q_norm.w.detach(), b.attn.k_norm.w.detach()) if hasattr(b.attn, "q_norm") else None for b in blocks],
            post_norm=bool(cfg.post_norms),
            ln1_post=[detached_norm(norm(b.ln1_post)) for b in blocks] if cfg.post_norms else None,
            ln2_post=[detached_norm(norm(b.ln2_post)) for b in blocks] if cfg.post_norms and has_mlp else None,
            attn_cap=float(cfg.attn_scores_soft_cap), out_cap=float(cfg.output_logits_soft_cap),
            qk_full=[full_width(b.attn) for b in blocks] if cfg.qk_norm_full_width else None,
        )

    def normalize(self, x: torch.Tensor, wb: tuple | None) -> torch.Tensor:
        """The model's norm over the last dimension (identity without normalization, or where a
        post-norm family has no norm: wb None)."""
        if self.norm is None or wb is None:
            return x
        if self.norm in ("LN", "LNPre"):
            x = x - x.mean(-1, keepdim=True)
        x = x / (x.pow(2).mean(-1, keepdim=True) + self.eps).sqrt()
        w, b = wb
        if w is not None:
            x = x * w
        return x if b is None else x + b

    def qk_normalize(self, layer: int, proj: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
        """The layer's per-head q/k RMSNorm on [R, rows, dh] projections; `which` [R] says whether each
        row is a q (0), k (1) or v (2) projection; v rows pass unchanged (as the model's Attention)."""
        if self.qk_norm[layer] is None:
            return proj
        q_w, k_w = self.qk_norm[layer]
        normed = proj / (proj.pow(2).mean(-1, keepdim=True) + self.eps).sqrt()
        weights = torch.stack([q_w, k_w, torch.ones_like(q_w)])[which].unsqueeze(1)  # [R, 1, dh]
        return torch.where((which < 2).reshape(-1, 1, 1), normed * weights, proj)

    def rotate(self, x: torch.Tensor, layer: int) -> torch.Tensor:
        """Rotary positions for [n, P, dh] queries or keys."""
        return self.rotary[layer].rotate(x.unsqueeze(2)).squeeze(2)

    def full_width_qk(self, layer: int, x: torch.Tensor, xs, hs, proj: torch.Tensor) -> torch.Tensor:
        """OLMo-2: q (k) rows from the full-width projection of each row's own input, normalised over
        the full width, each row keeping its head's slice (as the hooked model's full_width_heads).
        x [R, rows, D], proj [R, rows, dh] -> proj with its q and k rows replaced."""
        W_q, b_q, w_q, W_k, b_k, w_k = self.qk_full[layer]
        dh = proj.shape[-1]
        out = proj.clone()
        for i, (kind, h) in enumerate(zip(xs, hs)):
            if kind > 1:
                continue
            W, b, wn = (W_q, b_q, w_q) if kind == 0 else (W_k, b_k, w_k)
            full = torch.addmm(b, x[i], W)
            full = full / (full.pow(2).mean(-1, keepdim=True) + self.eps).sqrt() * wn
            out[i] = full[:, int(h) * dh : (int(h) + 1) * dh]
        return out

    def attention(self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """z for [n, P, dh] queries, keys, values (n = heads x variants x batch; k and v already per query head)."""
        if self.rotary[layer] is not None:
            q, k = self.rotate(q, layer), self.rotate(k, layer)
        scores = torch.bmm(q, k.transpose(1, 2)) / self.attn_scale[layer]
        if self.attn_cap > 0:
            scores = torch.tanh(scores / self.attn_cap) * self.attn_cap
        p = scores.shape[-1]
        qpos, kpos = torch.arange(p, device=scores.device)[:, None], torch.arange(p, device=scores.device)[None, :]
        keep = kpos <= qpos if self.causal else torch.ones(p, p, dtype=torch.bool, device=scores.device)
        if self.windows[layer] is not None:
            keep = keep & (kpos > qpos - self.windows[layer])
        scores = scores.masked_fill(~keep, -torch.inf)  # a filled scalar: no host-to-device copy
        pattern = torch.softmax(scores, dim=-1)
        pattern = torch.where(torch.isnan(pattern), torch.zeros_like(pattern), pattern)
        return torch.bmm(pattern, v)

    def mlp(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """MLP output for [rows, D] inputs (ln2 is applied here)."""
        x = self.normalize(x, self.ln2[layer])
        if self.W_gate[layer] is not None:
            post = self.act_fn[layer](x @ self.W_gate[layer]) * (x @ self.W_in[layer]) + self.b_in[layer]
        else:
            post = self.act_fn[layer](torch.addmm(self.b_in[layer], x, self.W_in[layer]))
        out = torch.addmm(self.b_out[layer], post, self.W_out[layer])
        return self.normalize(out, self.ln2_post[layer]) if self.post_norm else out

    def post_attention(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """The normed attention output for [rows, D] post-norm inputs (Σ heads + b_O)."""
        return self.normalize(x, self.ln1_post[layer])

    def unembed(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for [rows, D] final residual-stream values."""
        logits = torch.addmm(self.b_U, self.normalize(x, self.ln_final), self.W_U)
        return logits if self.out_cap <= 0 else torch.tanh(logits / self.out_cap) * self.out_cap
