"""Edge patching, plain and obviously correct: one whole forward pass per evaluation.

An absent edge sender -> receiver means the receiver sees the sender's *ablated* output (from
the patch data, or zero) instead of its current one. As in the reference implementation:

* an ADDITION receiver with any absent edge is recomputed as
  `ablated_input + sum over present senders of (current_output - ablated_output)`;
* a DIRECT_COMPUTATION receiver (a head's q/k/v) with its edge absent takes its ablated value;
* a receiver whose edges are all present is left as the model computes it.

This engine is the reference every faster engine is checked against, decision by decision.
"""

from __future__ import annotations

from typing import Collection, Mapping

import torch

from . import model_backend as backend
from .errors import UserError
from .graph import ComputationalGraph, EdgeType, Node
from .metrics import Metric

Absent = Mapping[Node, Collection[Node]]  # receiver -> senders whose edge is absent

# The reference permutes positional embeddings of the patch run with this seed (tracr tasks).
SCRAMBLE_SEED = 49


def index_of(node: Node) -> tuple:
    """Where a node lives in its hook's tensor: whole tensor or head slice [:, :, h]."""
    return (Ellipsis,) if node.head is None else (slice(None), slice(None), node.head)


def writer_hooks(graph: ComputationalGraph) -> set[str]:
    """Hook points whose outputs are summed into the residual stream (ADDITION senders)."""
    return {e.sender.name for e in graph.edges if e.type is EdgeType.ADDITION}


def ablated_activations(
    model, graph: ComputationalGraph, patch_tokens: torch.Tensor, zero_ablation: bool, scramble_positions: bool
) -> dict[str, torch.Tensor]:
    """Every graph hook's activation on the patch data, or with every writer zeroed (zero ablation).

    Like the reference, zero ablation zeroes all residual writers (inputs, head results, MLP
    outputs) and records what every hook then sees; with separate positional embeddings and
    corrupted ablation, the patch run's positional embeddings are permuted (seed 49).
    """
    pre: list = []
    if zero_ablation:
        pre += [(name, lambda x, hook: torch.zeros_like(x)) for name in sorted(writer_hooks(graph))]
    elif scramble_positions:
        n = patch_tokens.shape[1]
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(SCRAMBLE_SEED)).to(patch_tokens.device)
        pre.append(("hook_pos_embed", lambda x, hook: x[:, perm]))
    return backend.capture(model, patch_tokens, set(graph.hook_names()), pre)


def patch_data(tokens: torch.Tensor, patch_tokens: torch.Tensor | None, zero_ablation: bool) -> torch.Tensor:
    """The tokens of the patch run (the clean ones under zero ablation), checked against the clean ones."""
    if patch_tokens is None:
        if not zero_ablation:
            raise UserError("this task has no patch (corrupted) data: use --zero-ablation or give the task corrupted tokens")
        return tokens
    if tuple(patch_tokens.shape) != tuple(tokens.shape):
        raise UserError(f"clean tokens {tuple(tokens.shape)} and corrupted tokens {tuple(patch_tokens.shape)} differ in shape: they must be equal")
    return patch_tokens


class PlainEngine:
    """Evaluates the metric for a set of absent edges with TransformerLens hooks."""

    name = "plain"

    def __init__(
        self,
        model,
        graph: ComputationalGraph,
        tokens: torch.Tensor,
        patch_tokens: torch.Tensor | None,
        metric: Metric,
        zero_ablation: bool = False,
        scramble_positions: bool = False,
    ) -> None:
        patch_tokens = patch_data(tokens, patch_tokens, zero_ablation)
        self.model, self.graph, self.tokens, self.metric = model, graph, tokens, metric
        self.ablated = ablated_activations(model, graph, patch_tokens, zero_ablation, scramble_positions)
        self.writers = writer_hooks(graph)

    def logits(self, absent: Absent) -> torch.Tensor:
        # Placeholder edges are structural: removing one (tree-shaking) changes no activation.
        patched = {r: set(s) for r, s in absent.items() if s and self.graph.incoming_type[r] is not EdgeType.PLACEHOLDER}
        if not patched:
            return backend.logits(self.model, self.tokens)
        online: dict[str, torch.Tensor] = {}

        def save(x: torch.Tensor, hook) -> None:
            online[hook.name] = x.clone()

        by_hook: dict[str, list[Node]] = {}
        for r in patched:
            by_hook.setdefault(r.name, []).append(r)
        hooks = [(name, save) for name in sorted(self.writers)]
        hooks += [(name, self._receiver_hook(rs, patched, online)) for name, rs in by_hook.items()]
        return backend.logits(self.model, self.tokens, hooks)

    def evaluate(self, absent: Absent) -> float:
        with torch.inference_mode():
            return float(self.metric(self.logits(absent)).item())

    def _receiver_hook(self, receivers: list[Node], absent: dict[Node, set[Node]], online: dict[str, torch.Tensor]):
        graph, ablated = self.graph, self.ablated

        def hook(x: torch.Tensor, hook) -> torch.Tensor:
            x = x.clone()  # q/k/v inputs can be broadcast views of the residual stream
            for r in receivers:
                ri = index_of(r)
                if graph.incoming_type[r] is EdgeType.DIRECT_COMPUTATION:
                    x[ri] = ablated[r.name][ri]
                    continue
                value = ablated[r.name][ri].clone()
                for e in graph.incoming[r]:
                    if e.sender not in absent[r]:
                        si = index_of(e.sender)
                        value += online[e.sender.name][si]
                        value -= ablated[e.sender.name][si]
                x[ri] = value
            return x

        return hook
