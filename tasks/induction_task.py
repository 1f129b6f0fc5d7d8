"""`induction`: a small attention-only model, trained here, continuing repeated random tokens.

The model (tasks/induction/, trained by `python -m tasks.build.train_induction`: 4 heads a layer,
layer 0 with local attention over the current and previous token) sees
`BOS r_1 .. r_L r_1 .. r_L` with L=10 distinct random tokens. Its repeated half is predictable
only by induction: a previous-token head in layer 0 whose output is read by the key (K) input of
an induction head in layer 1. In the shipped weights head 0.2 (and 0.1) attend to the previous
token, 0.0 and 0.3 to the current one, and 1.0, 1.2, 1.3 (weaker: 1.1) are induction heads; ACDC
at τ = 0.1 (KL) keeps 55 of 105 edges: previous-token heads -> induction heads' K, current-token
heads -> their Q and V, induction heads -> logits. Data are generated at load time from a fixed seed; the patch data
are the same rows in a different order (other repeated sequences), as the reference does for
its induction task (`shuffle_tensor`).
"""

from __future__ import annotations

import functools
from pathlib import Path

import orjson
import torch
import torch.nn.functional as F

from acdc_tui.core.metrics import Metric, Positions, kl_divergence, select_positions
from acdc_tui.core.safe_load import torch_load
from acdc_tui.models import backend
from tasks.task import Task, check_tokens

INDUCTION_DIR = Path(__file__).parent / "induction"
DATA_SEED = 42
NUM_EXAMPLES = 32
DEFAULT_THRESHOLD = 0.1  # τ for the KL metric: keeps previous-token heads -> induction heads (K), 55 of 105 edges


def repeated_half_positions(half: int) -> list[int]:
    """Positions whose next token is a repeat the model can predict: r_1 .. r_{L-1} of the second half."""
    return list(range(half + 1, 2 * half))


def negative_log_prob(clean_logits: torch.Tensor, labels: torch.Tensor, positions: Positions) -> Metric:
    """The reference's `negative_log_probs`: mean -log p(correct next token) at `positions`.
    Unlike KL it is not 0 on the clean model: its minimum is the clean model's loss."""
    labels = select_positions(labels, positions)

    def metric(logits: torch.Tensor) -> torch.Tensor:
        logprobs = F.log_softmax(select_positions(logits, positions), dim=-1)
        return -logprobs.gather(-1, labels.to(logits.device)[..., None])[..., 0].mean()

    return metric


def load_induction_model(device: str = "cpu", dtype: torch.dtype = torch.float32):
    config = orjson.loads((INDUCTION_DIR / "config.json").read_bytes())
    weights = torch_load(INDUCTION_DIR / "weights.pt", str(INDUCTION_DIR / "weights.pt"), "a state dict")
    return backend.build_model(config, weights, device, dtype)


def induction_data(num_examples: int = NUM_EXAMPLES, seed: int = DATA_SEED, d_vocab: int | None = None, half: int | None = None):
    """(clean, corrupted) token ids [num_examples, 2*half+1], deterministic in `seed`."""
    from tasks.build.train_induction import CONFIG, HALF, repeated_sequences

    gen = torch.Generator().manual_seed(seed)
    clean = repeated_sequences(num_examples, gen, d_vocab or CONFIG["d_vocab"], half or HALF)
    while True:  # a derangement of the rows, so no example is patched with itself
        perm = torch.randperm(num_examples, generator=gen)
        if not (perm == torch.arange(num_examples)).any():
            break
    return clean, clean[perm]


def induction(device: str = "cpu", dtype: torch.dtype = torch.float32, model=None, num_examples: int = NUM_EXAMPLES) -> Task:
    from tasks.build.train_induction import HALF

    model = model if model is not None else load_induction_model(device, dtype)
    clean, corrupted = induction_data(num_examples)
    clean = check_tokens(clean, model, "clean tokens")
    positions = repeated_half_positions(HALF)
    labels = torch.cat([clean[:, 1:], clean[:, :1]], dim=1)  # labels[:, i] = clean[:, i+1] (last column unused)
    metrics = {
        "kl": functools.partial(kl_divergence, positions=positions),
        "nll": lambda _clean_logits: negative_log_prob(_clean_logits, labels, positions),
    }
    return Task(
        name="induction",
        source="builtin",
        model=model,
        clean=clean,
        corrupted=check_tokens(corrupted, model, "corrupted tokens"),
        metrics=metrics,
        default_metric="kl",
        description=DESCRIPTION,
        config={"default_threshold": DEFAULT_THRESHOLD},
    )


DESCRIPTION = "induction on repeated random tokens (2-layer attention-only model trained here, offline)"
