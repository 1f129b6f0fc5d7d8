"""The plain engine: one whole forward pass per evaluation, through TransformerLens hooks.

The patching semantics it implements are described in patching.py; this engine is the reference
every faster engine is checked against, decision by decision.
"""

from __future__ import annotations

import torch

from acdc_tui.core.graph import Absent, ComputationalGraph, EdgeType, Node
from acdc_tui.core.metrics import Metric
from acdc_tui.engines.patching import Ablation, ablated_activations, engine_start, index_of, writer_hooks
from acdc_tui.models import backend


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
        ablation: Ablation = Ablation.CORRUPTED,
        scramble_positions: bool = False,
    ) -> None:
        patch_tokens = engine_start(model, tokens, patch_tokens, ablation)
        self.model, self.graph, self.tokens, self.metric = model, graph, tokens, metric
        self.ablated = ablated_activations(model, graph, patch_tokens, ablation, scramble_positions)
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
