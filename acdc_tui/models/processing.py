"""TransformerLens 3's default weight processing (what `HookedTransformer.from_pretrained` did and the
ACDC reference's hub tasks ran on): fold each LayerNorm's weights into the matrices that read it,
centre the weights that write the residual stream, centre the unembedding, fold value biases into
the output bias. Log-probabilities are unchanged (a test checks it); activations are those the
reference's circuits were found on.
"""

from __future__ import annotations

import torch

StateDict = dict[str, torch.Tensor]


def _fold(sd: StateDict, ln: str, readers: list[tuple[str, str | None]], centre: bool) -> None:
    """Fold `ln`'s w (and b) into each (W, b) reader; W is [..., d_model, d_out] with d_model at -2."""
    w, b = sd.pop(f"{ln}.w"), sd.pop(f"{ln}.b", None)
    for W_key, b_key in readers:
        W = sd[W_key]
        if b is not None and b_key is not None:
            sd[b_key] = sd[b_key] + torch.einsum("d,...de->...e", b, W)
        W = W * w[:, None]
        sd[W_key] = W - W.mean(-2, keepdim=True) if centre else W


def process(sd: StateDict, config: dict, fold_ln: bool = True, center_writing_weights: bool = True, center_unembed: bool = True, fold_value_biases: bool = True) -> tuple[StateDict, dict]:
    """The processed state dict (in float64, so processing adds no rounding of its own) and config
    (LayerNorm becomes LNPre when folded, RMS becomes RMSPre)."""
    sd, config = {k: v.double() for k, v in sd.items()}, dict(config)
    L, norm = config["n_layers"], config.get("normalization_type", "LN")
    layer_norm = norm in ("LN", "LNPre")
    if fold_ln and norm in ("LN", "RMS"):
        centre = norm == "LN"
        for l in range(L):
            p = f"blocks.{l}"
            _fold(sd, f"{p}.ln1", [(f"{p}.attn.W_{x}", f"{p}.attn.b_{x}") for x in "QKV"], centre)
            if not config.get("attn_only"):
                readers = [(f"{p}.mlp.W_in", f"{p}.mlp.b_in")]
                if config.get("gated_mlp"):
                    readers = [(f"{p}.mlp.W_gate", None), (f"{p}.mlp.W_in", None)]  # b_in is added after the gate
                _fold(sd, f"{p}.ln2", readers, centre)
        _fold(sd, "ln_final", [("unembed.W_U", "unembed.b_U")], centre)
        config["normalization_type"] = "LNPre" if centre else "RMSPre"
    if center_writing_weights and layer_norm:
        for key in ["embed.W_E", "pos_embed.W_pos"] + [f"blocks.{l}.{k}" for l in range(L) for k in ("attn.W_O", "attn.b_O", "mlp.W_out", "mlp.b_out")]:
            if key in sd:
                sd[key] = sd[key] - sd[key].mean(-1, keepdim=True)
    if center_unembed:
        sd["unembed.W_U"] = sd["unembed.W_U"] - sd["unembed.W_U"].mean(-1, keepdim=True)
        sd["unembed.b_U"] = sd["unembed.b_U"] - sd["unembed.b_U"].mean()
    if fold_value_biases:
        for l in range(L):
            p = f"blocks.{l}.attn"
            b_V, W_O = sd[f"{p}.b_V"], sd[f"{p}.W_O"]  # [G, d_head], [H, d_head, d_model]
            b_V_per_head = b_V.repeat_interleave(W_O.shape[0] // b_V.shape[0], dim=0)
            sd[f"{p}.b_O"] = sd[f"{p}.b_O"] + torch.einsum("he,hed->d", b_V_per_head, W_O)
            sd[f"{p}.b_V"] = torch.zeros_like(b_V)
    return sd, config
