"""Patching semantics shared by every engine: what an absent edge means, and the ablated values.

An absent edge sender -> receiver means the receiver sees the sender's *ablated* output (from
the patch data, or zero) instead of its current one. As in the reference implementation:

* an ADDITION receiver with any absent edge is recomputed as
  `ablated_input + sum over present senders of (current_output - ablated_output)`;
* a DIRECT_COMPUTATION receiver (a head's q/k/v) with its edge absent takes its ablated value;
* a receiver whose edges are all present is left as the model computes it.

The plain engine (plain.py) implements this directly; every faster engine is checked against it.

Three ablations give the ablated values (`Ablation`): the patch (corrupted) run's activations, those
of a run with every residual writer zeroed, or the patch run's activations averaged over its batch at
each position (mean ablation). Every engine consumes the same ablated values, so they agree on all three.
"""

from __future__ import annotations

import torch

from acdc_tui import allocator, threads
from acdc_tui.core.ablation import Ablation  # defined in the core: the run recipe names it without torch
from acdc_tui.core.architecture import NodeKind, hook_name
from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import ComputationalGraph, EdgeType, Node
from acdc_tui.models import backend

# The reference permutes positional embeddings of the patch run with this seed (tracr tasks).
SCRAMBLE_SEED = 49


def index_of(node: Node) -> tuple:
    """Where a node lives in its hook's tensor: whole tensor or head slice [:, :, h]."""
    return (Ellipsis,) if node.head is None else (slice(None), slice(None), node.head)


def writer_hooks(graph: ComputationalGraph) -> set[str]:
    """Hook points whose outputs are summed into the residual stream (ADDITION senders)."""
    return {e.sender.name for e in graph.edges if e.type is EdgeType.ADDITION}


def ablated_activations(
    model, graph: ComputationalGraph, patch_tokens: torch.Tensor, ablation: Ablation, scramble_positions: bool,
    keep: backend.KeepFn | None = None,
) -> dict[str, torch.Tensor]:
    """Every graph hook's activation on the patch data, or with every writer zeroed (zero ablation),
    or on the patch data averaged over the batch per position (mean ablation); with `keep`, what it
    makes of each activation (as the forward pass produces it, or once averaged).

    Like the reference, zero ablation zeroes all residual writers (inputs, head results, MLP
    outputs) and records what every hook then sees; with separate positional embeddings and
    corrupted (or mean) ablation, the patch run's positional embeddings are permuted (seed 49).
    Every hook is averaged, receivers' inputs too: an ADDITION receiver's input is a sum of its
    senders, so its mean is the sum of their means and patching stays consistent.
    """
    ablation = Ablation(ablation)
    if ablation is Ablation.MEAN:
        patch_run = ablated_activations(model, graph, patch_tokens, Ablation.CORRUPTED, scramble_positions)
        means = {name: per_position_mean(x) for name, x in patch_run.items()}
        if keep is None:
            return means
        kept = {name: keep(name, x) for name, x in means.items()}
        return {name: x for name, x in kept.items() if x is not None}
    pre: list = []
    if ablation is Ablation.ZERO:
        pre += [(name, lambda x, hook: torch.zeros_like(x)) for name in sorted(writer_hooks(graph))]
    elif scramble_positions:
        n = patch_tokens.shape[1]
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(SCRAMBLE_SEED)).to(patch_tokens.device)
        pre.append((hook_name(NodeKind.POS_EMBED), lambda x, hook: x[:, perm]))
    return backend.capture(model, patch_tokens, set(graph.hook_names()), pre, keep)


def per_position_mean(x: torch.Tensor) -> torch.Tensor:
    """[batch, pos, ...] -> the same shape, each row the batch's mean at its position."""
    return x.mean(0, keepdim=True).expand_as(x).contiguous()


def engine_start(model, tokens: torch.Tensor, patch_tokens: torch.Tensor | None, ablation: Ablation) -> torch.Tensor:
    """What an engine does first: the patch run's tokens (`patch_data`), and torch's threads and the
    allocator fitted to the size of the work (activations of batch x positions x d_model)."""
    patch_tokens = patch_data(tokens, patch_tokens, ablation)
    threads.fit_to_work(tokens.numel() * model.cfg.d_model, tokens.device.type)
    allocator.fit_to_work(tokens.numel() * model.cfg.d_model * 4, tokens.device.type)  # float32 bytes or more
    return patch_tokens


def patch_data(tokens: torch.Tensor, patch_tokens: torch.Tensor | None, ablation: Ablation) -> torch.Tensor:
    """The tokens of the patch run, checked against the clean ones: under zero ablation the clean ones;
    under mean ablation the clean ones when the task has no patch data (the mean is over them then)."""
    if patch_tokens is None:
        if Ablation(ablation) is Ablation.CORRUPTED:
            raise UserError("this task has no patch (corrupted) data: use --zero-ablation or --mean-ablation, or give the task corrupted tokens")
        return tokens
    if tuple(patch_tokens.shape) != tuple(tokens.shape):
        raise UserError(f"clean tokens {tuple(tokens.shape)} and corrupted tokens {tuple(patch_tokens.shape)} differ in shape: they must be equal")
    return patch_tokens
