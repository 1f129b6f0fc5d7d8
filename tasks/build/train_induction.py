"""Train the shipped `induction` model: `python -m tasks.build.train_induction` (CPU, a few minutes).

A 2-layer attention-only transformer learns to continue sequences of random tokens that are
repeated once, `BOS r_1 .. r_L r_1 .. r_L`. The task's data use L = 10; in training L varies
from 3 to 10 and random tokens surround the repeat, so that it sits at no fixed distance or
position. Only the repeat is predictable, and only by induction: a previous-token head in
layer 0 writes "the token before me was x" into each position, and an induction head in layer 1
uses it as its key (K-composition) to attend from the second `x` to the token after the first
`x`, copying it.

Everything is seeded and single-threaded, so a rerun on the same torch version reproduces the
shipped weights (up to floating-point differences between machines). Writes
tasks/induction/config.json and tasks/induction/weights.pt. The shipped run: 1500 steps,
186 s of training on a busy 2-core machine; loss 3.367 on the first half (chance: log 29 =
3.367) and 0.092 on the repeated half.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import orjson
import torch
import torch.nn.functional as F

OUT_DIR = Path(__file__).parents[1] / "induction"
BOS = 0
HALF = 10  # random tokens per half in the task data
CONFIG = {
    "n_layers": 2,
    "n_heads": 4,
    "d_model": 64,
    "d_head": 32,  # wide enough (with d_vocab 30) for one head to match and copy any token
    "d_vocab": 30,
    "n_ctx": 2 * HALF + 1,
    "attn_only": True,
    "act_fn": "relu",  # unused (no MLPs), but HookedTransformerConfig wants one
    "normalization_type": "LN",
    "positional_embedding_type": "standard",
    # Layer 0 sees only the current and previous token (local attention, window 2), layer 1 all.
    # Without this, small models found diffuse positional solutions instead of the textbook
    # previous-token head + induction head; with it, layer 0 can only be previous-token/self heads.
    "use_local_attn": True,
    "attn_types": ["local", "global"],
    "window_size": 2,
    "model_name": "induction-2l-attn-only",
}
TRAIN_SEED = 0


def repeated_sequences(n: int, generator: torch.Generator, d_vocab: int = CONFIG["d_vocab"], half: int = HALF) -> torch.Tensor:
    """[n, 2*half+1]: BOS, then `half` distinct random non-BOS tokens, then the same tokens again."""
    scores = torch.rand(n, d_vocab - 1, generator=generator)
    r = scores.argsort(dim=-1)[:, :half] + 1  # distinct tokens from 1..d_vocab-1
    return torch.cat([torch.full((n, 1), BOS), r, r], dim=1)


def training_sequences(n: int, generator: torch.Generator, d_vocab: int = CONFIG["d_vocab"], half: int = HALF) -> torch.Tensor:
    """[n, 2*half+1]: BOS, random tokens, L distinct random tokens, the same L tokens again, random
    tokens; L drawn from 3..half and the repeat's start at random per row. The repeat is at no
    fixed distance or position, so position alone cannot predict it: the model has to learn induction."""
    rows = []
    for _ in range(n):
        length = int(torch.randint(3, half + 1, (), generator=generator))
        free = 2 * (half - length)
        before = int(torch.randint(0, free + 1, (), generator=generator))
        r = torch.randperm(d_vocab - 1, generator=generator)[:length] + 1
        prefix = torch.randint(1, d_vocab, (before,), generator=generator)
        filler = torch.randint(1, d_vocab, (free - before,), generator=generator)
        rows.append(torch.cat([torch.tensor([BOS]), prefix, r, r, filler]))
    return torch.stack(rows)


def half_losses(model, tokens: torch.Tensor) -> tuple[float, float]:
    """Mean next-token loss predicting the first half's tokens and the repeated half's tokens."""
    with torch.no_grad():
        logprobs = model(tokens).log_softmax(-1)[:, :-1]
        nll = -logprobs.gather(-1, tokens[:, 1:, None])[..., 0]  # nll[:, i] predicts tokens[:, i+1]
    first = nll[:, : HALF].mean()  # predicting r_1 .. r_L
    second = nll[:, HALF + 1 :].mean()  # predicting r_2 .. r_L of the repeat (r_1 is unpredictable)
    return float(first), float(second)


def train(steps: int = 1500, batch: int = 128, lr: float = 3e-3) -> dict:
    from acdc_tui.models.backend import build_model

    torch.manual_seed(TRAIN_SEED)
    gen = torch.Generator().manual_seed(TRAIN_SEED)
    model = build_model(CONFIG, None)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    start = time.perf_counter()
    for step in range(steps):
        tokens = training_sequences(batch, gen)
        logits = model(tokens)[:, :-1]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 250 == 0 or step == steps - 1:
            print(f"step {step:5d} loss {loss.item():.4f}", flush=True)
    elapsed = time.perf_counter() - start
    model.set_use_attn_result(True)
    model.set_use_split_qkv_input(True)
    model.eval()
    first, second = half_losses(model, repeated_sequences(1000, torch.Generator().manual_seed(12345)))
    return {"model": model, "elapsed_s": elapsed, "loss_first_half": first, "loss_repeated_half": second}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tasks.build.train_induction", description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--out", type=Path, default=OUT_DIR)
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # deterministic reductions, and polite on shared machines
    result = train(args.steps)
    model = result["model"]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "config.json").write_bytes(orjson.dumps(CONFIG, option=orjson.OPT_INDENT_2) + b"\n")
    torch.save({k: v.detach().clone().contiguous() for k, v in model.named_parameters()}, args.out / "weights.pt")
    print(
        f"trained in {result['elapsed_s']:.1f}s: loss {result['loss_first_half']:.3f} on the first half "
        f"(log {CONFIG['d_vocab'] - 1} = {torch.log(torch.tensor(CONFIG['d_vocab'] - 1.0)):.3f}), "
        f"{result['loss_repeated_half']:.4f} on the repeated half; wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
