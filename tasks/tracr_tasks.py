"""tracr-reverse and tracr-proportion, the ACDC paper's tracr tasks, on shipped weights.

The weights were compiled from RASP by `python -m tasks.build.tracr` and are loaded here with
torch alone (no jax). Data and metrics follow the reference implementation
(acdc/tracr_task/utils.py); where it draws random data, a fixed seed is used instead.
"""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

import orjson
import torch

from acdc_tui.core.metrics import kl_divergence, l2
from acdc_tui.core.safe_load import torch_load
from acdc_tui.models import backend
from tasks.task import EdgeKey, Task, check_tokens

TRACR_DIR = Path(__file__).parent / "tracr"
DATA_SEED = 1234  # the reference's default seed; its exact random draws are not reproducible here


def _load_model(program: str, device: str, dtype: torch.dtype):
    d = TRACR_DIR / program
    config = orjson.loads((d / "config.json").read_bytes())
    weights = torch_load(d / "weights.pt", str(d / "weights.pt"), "a state dict")
    return backend.build_model(config, weights, device, dtype), orjson.loads((d / "vocab.json").read_bytes())


def load_ground_truth(program: str) -> frozenset[EdgeKey]:
    rows = orjson.loads((TRACR_DIR / program / "canonical_circuit.json").read_bytes())["edges"]
    return frozenset(tuple(r) for r in rows)


def _derangement(n: int, gen: torch.Generator) -> torch.Tensor:
    """A random permutation with no fixed point (the reference's `get_perm`)."""
    while True:
        perm = torch.randperm(n, generator=gen)
        if not (perm == torch.arange(n)).any():
            return perm


def tracr_reverse(device: str = "cpu", dtype: torch.dtype = torch.float32) -> Task:
    model, vocab = _load_model("reverse", device, dtype)
    enc = vocab["input_encoding"]
    # All 6 orderings of 1,2,3 after BOS; patch data is a derangement of the same rows.
    clean = torch.tensor([[enc["BOS"]] + [enc[str(t)] for t in p] for p in itertools.permutations([1, 2, 3])])
    patch = clean[_derangement(len(clean), torch.Generator().manual_seed(DATA_SEED))]
    positions = list(range(1, clean.shape[1]))  # every output after BOS
    metrics = {"l2": functools.partial(l2, positions=positions)}
    description = "tracr: reverse a length-3 sequence over {1,2,3} (4 layers, 1 head each, MLPs)"
    return _tracr_task("reverse", model, clean, patch, metrics, description)


def tracr_proportion(device: str = "cpu", dtype: torch.dtype = torch.float32, num_examples: int = 50) -> Task:
    model, _ = _load_model("proportion", device, dtype)
    # As in the reference: sequences of 4 ids drawn from 0..3 with no BOS prepended (it encodes
    # w,x,y,z as 0..3, which in the compiled vocabulary are BOS, pad, w, x).
    gen = torch.Generator().manual_seed(DATA_SEED)
    all_seqs = torch.tensor(list(itertools.product(range(4), repeat=4)))
    clean = all_seqs[torch.randperm(len(all_seqs), generator=gen)[:num_examples]]
    patch = clean[torch.randperm(num_examples, generator=gen)]
    positions = list(range(1, clean.shape[1]))
    metrics = {
        "l2": functools.partial(l2, positions=positions, output_dim=0),
        "kl": functools.partial(kl_divergence, positions=None),
    }
    description = "tracr: running proportion of 'x' tokens (2 layers, 1 head each, MLPs)"
    return _tracr_task("proportion", model, clean, patch, metrics, description)


def _tracr_task(program: str, model, clean: torch.Tensor, patch: torch.Tensor, metrics: dict, description: str) -> Task:
    """What both tracr tasks share: split embeddings, the reference's position scramble, L2 default."""
    return Task(
        name=f"tracr-{program}",
        source="builtin",
        model=model,
        clean=check_tokens(clean, model, "clean tokens"),
        corrupted=check_tokens(patch, model, "corrupted tokens"),
        metrics=metrics,
        default_metric="l2",
        use_pos_embed=True,
        scramble_patch_positions=True,
        ground_truth=load_ground_truth(program),
        description=description,
    )
