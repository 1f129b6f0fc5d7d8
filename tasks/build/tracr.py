"""Compile the two tracr programs of the ACDC paper and ship them as TransformerLens weights.

The programs and the tracr -> HookedTransformer conversion follow ACDC's
`acdc/tracr_task/utils.py` (Conmy et al. 2023). jax/tracr are imported lazily so the
shipped files (and this module) stay usable without the `tracr` extra.

    python -m tasks.build.tracr [--out DIR] [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import einops
import numpy as np
import torch

TASKS: tuple[str, ...] = ("reverse", "proportion")
BOS = "BOS"
MAX_SEQ_LEN = 5
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "tracr"
INSTALL_HINT = "tracr is not installed: run .venv/bin/pip install -c constraints.txt -e .[tracr]"
FILES = ("config.json", "weights.pt", "vocab.json")

Cfg = dict[str, Any]
StateDict = dict[str, torch.Tensor]


def _compile(task: str) -> Any:
    """Compile the RASP program of `task` exactly as the ACDC reference does."""
    from tracr.compiler import compiling
    from tracr.compiler.lib import make_frac_prevs
    from tracr.rasp import rasp

    if task == "reverse":
        length = rasp.SelectorWidth(rasp.Select(rasp.tokens, rasp.tokens, rasp.Comparison.TRUE))
        opp_index = length - rasp.indices - 1
        flip = rasp.Select(rasp.indices, opp_index, rasp.Comparison.EQ)
        program = rasp.Aggregate(flip, rasp.tokens)
        vocab: set[Any] = {1, 2, 3}
    elif task == "proportion":
        program = make_frac_prevs(rasp.tokens == "x")
        vocab = {"w", "x", "y", "z"}
    else:
        raise ValueError(f"unknown tracr task {task!r}; expected one of {TASKS}")
    return compiling.compile_rasp_to_model(
        program, vocab=vocab, max_seq_len=MAX_SEQ_LEN, compiler_bos=BOS
    )


def _t(x: Any) -> torch.Tensor:
    # jax arrays -> float32 torch via numpy (copy: jax buffers are read-only).
    return torch.from_numpy(np.array(x, dtype=np.float32, copy=True))


def _convert(model: Any) -> tuple[Cfg, StateDict]:
    """tracr AssembledTransformerModel -> (HookedTransformerConfig kwargs, partial state dict)."""
    mc, p = model.model_config, model.params
    n_heads, d_head = mc.num_heads, mc.key_size
    d_vocab, d_model = p["token_embed"]["embeddings"].shape
    d_vocab_out = d_vocab - 2  # BOS and pad are never predicted
    cfg: Cfg = dict(
        n_layers=mc.num_layers,
        n_heads=n_heads,
        d_head=d_head,
        d_mlp=mc.mlp_hidden_size,
        act_fn="relu",
        normalization_type="LN" if mc.layer_norm else None,
        attention_dir="causal" if mc.causal else "bidirectional",
        n_ctx=p["pos_embed"]["embeddings"].shape[0],
        d_vocab=d_vocab,
        d_model=d_model,
        d_vocab_out=d_vocab_out,
        use_attn_result=True,
        use_split_qkv_input=True,
        use_hook_mlp_in=True,
    )
    sd: StateDict = {
        "embed.W_E": _t(p["token_embed"]["embeddings"]),
        "pos_embed.W_pos": _t(p["pos_embed"]["embeddings"]),
        # Output tokens live in the first residual dimensions, so unembedding is a projection.
        "unembed.W_U": torch.eye(d_model, d_vocab_out),
    }
    heads = dict(n_heads=n_heads, d_head=d_head)
    for layer in range(mc.num_layers):
        src, dst = f"transformer/layer_{layer}", f"blocks.{layer}"
        for tl_name, tr_name in (("Q", "query"), ("K", "key"), ("V", "value")):
            w, b = p[f"{src}/attn/{tr_name}"]["w"], p[f"{src}/attn/{tr_name}"]["b"]
            sd[f"{dst}.attn.W_{tl_name}"] = einops.rearrange(
                _t(w), "d_model (n_heads d_head) -> n_heads d_model d_head", **heads
            )
            sd[f"{dst}.attn.b_{tl_name}"] = einops.rearrange(
                _t(b), "(n_heads d_head) -> n_heads d_head", **heads
            )
        out = p[f"{src}/attn/linear"]
        sd[f"{dst}.attn.W_O"] = einops.rearrange(
            _t(out["w"]), "(n_heads d_head) d_model -> n_heads d_head d_model", **heads
        )
        sd[f"{dst}.attn.b_O"] = _t(out["b"])
        mlp_in, mlp_out = p[f"{src}/mlp/linear_1"], p[f"{src}/mlp/linear_2"]
        sd[f"{dst}.mlp.W_in"], sd[f"{dst}.mlp.b_in"] = _t(mlp_in["w"]), _t(mlp_in["b"])
        sd[f"{dst}.mlp.W_out"], sd[f"{dst}.mlp.b_out"] = _t(mlp_out["w"]), _t(mlp_out["b"])
    return cfg, sd


def _full_state_dict(cfg: Cfg, converted: StateDict) -> StateDict:
    """Load into our hooked transformer and return all its parameters, so nothing is left to random init."""
    from acdc_tui.models.backend import new_model
    from acdc_tui.models.config import parse_config

    tl_model = new_model(parse_config(cfg))
    tl_model.init_weights()
    result = tl_model.load_state_dict(converted, strict=False)
    assert not result.unexpected_keys, f"not parameters of the model: {result.unexpected_keys}"
    params = {k: v.detach().clone() for k, v in tl_model.named_parameters()}
    missing = set(params) - set(converted)
    assert missing == {"unembed.b_U"}, f"parameters not set from tracr: {sorted(missing)}"
    assert not params["unembed.b_U"].any(), "unembed.b_U should be initialised to zeros"
    assert all(v.dtype == torch.float32 for v in params.values())
    return params


def build(task: str) -> tuple[Cfg, StateDict, dict[str, Any]]:
    """Compile `task` with tracr; return (config kwargs, full parameter state dict, vocab info)."""
    model = _compile(task)
    cfg, converted = _convert(model)
    out_enc = getattr(model.output_encoder, "encoding_map", None)  # None: numerical output
    vocab = {
        "bos": BOS,
        "input_encoding": {str(k): int(v) for k, v in model.input_encoder.encoding_map.items()},
        "output_encoding": None if out_enc is None else {str(k): int(v) for k, v in out_enc.items()},
        "max_seq_len": MAX_SEQ_LEN,
        "program": task,
    }
    return cfg, _full_state_dict(cfg, converted), vocab


def save(task_dir: Path, cfg: Cfg, sd: StateDict, vocab: dict[str, Any]) -> None:
    task_dir.mkdir(parents=True, exist_ok=True)
    (task_dir / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    (task_dir / "vocab.json").write_text(json.dumps(vocab, indent=2, sort_keys=True) + "\n")
    torch.save(sd, task_dir / "weights.pt")


def load(task_dir: Path) -> tuple[Cfg, StateDict, dict[str, Any]]:
    """Read the shipped files; needs neither jax nor tracr."""
    cfg = json.loads((task_dir / "config.json").read_text())
    sd = torch.load(task_dir / "weights.pt", weights_only=True)
    vocab = json.loads((task_dir / "vocab.json").read_text())
    return cfg, sd, vocab


def diff(a: tuple[Cfg, StateDict, dict[str, Any]], b: tuple[Cfg, StateDict, dict[str, Any]]) -> list[str]:
    """Human-readable differences between two (cfg, state dict, vocab) triples; empty if identical."""
    (cfg_a, sd_a, voc_a), (cfg_b, sd_b, voc_b) = a, b
    out: list[str] = []
    if cfg_a != cfg_b:
        out.append(f"config.json: {cfg_a} != {cfg_b}")
    if voc_a != voc_b:
        out.append(f"vocab.json: {voc_a} != {voc_b}")
    if set(sd_a) != set(sd_b):
        out.append(f"weights.pt keys differ: {sorted(set(sd_a) ^ set(sd_b))}")
    for k in sorted(set(sd_a) & set(sd_b)):
        x, y = sd_a[k], sd_b[k]
        if x.dtype != y.dtype or x.shape != y.shape or not torch.equal(x, y):
            out.append(f"weights.pt[{k}]: {x.dtype}{tuple(x.shape)} vs {y.dtype}{tuple(y.shape)} differ")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="rebuild in a temp dir and compare with --out")
    args = parser.parse_args(argv)
    try:
        import tracr.compiler.compiling  # noqa: F401  (also pulls in jax and haiku)
    except ImportError:
        print(INSTALL_HINT)
        return 2

    if not args.check:
        for task in TASKS:
            save(args.out / task, *build(task))
            print(f"wrote {args.out / task}")
        return 0

    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in TASKS:
            save(Path(tmp) / task, *build(task))
            missing = [f for f in FILES if not (args.out / task / f).is_file()]
            if missing:
                problems.append(f"{task}: missing {missing} in {args.out / task}")
                continue
            problems += [f"{task}: {d}" for d in diff(load(args.out / task), load(Path(tmp) / task))]
    for p in problems:
        print(p)
    print("tracr models are up to date" if not problems else f"{len(problems)} difference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
