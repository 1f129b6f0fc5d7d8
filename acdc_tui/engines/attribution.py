"""Attribution scores for every tested edge: first-order estimates of ACDC's Δ from a few gradients.

Removing an edge sender -> receiver replaces what the receiver reads from the sender by the sender's
ablated output (patching.py), so its input moves by `d = ablated - clean` of the sender (for a
DIRECT_COMPUTATION edge, the head's q/k/v itself moves by its own `ablated - clean`). To first order
the metric then changes by `d · g`, with `g` the metric's gradient with respect to the receiver's
input. The score of an edge is that estimate of Δ = m(edge removed) - m(clean): the same sign and
scale as the Δ ACDC measures, with the same metric, ablation and graph as the run.

* EAP (Syed et al. 2023): `g` on the clean run. One clean forward, one patch forward (the ablated
  values), one backward.
* EAP-IG (Hanna et al. 2024, "inputs" variant, as MIB runs it): `g` averaged over `steps` runs whose
  input nodes (the embeddings) move from their ablated to their clean values, at α = k/steps for
  k = 0 .. steps-1 (EAP-IG's own points: the ablated end is included, the clean end is not).

A metric that is minimal on the clean run (KL or L2 against the clean outputs, every builtin task's
default) has a vanishing gradient there, so every EAP score is zero up to rounding; `vanishing` says
so, and EAP-IG, which reads gradients away from the clean run, is the method to use then.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import torch

from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import ComputationalGraph, EdgeType, Node
from acdc_tui.core.metrics import Metric
from acdc_tui.engines.attribution_method import DEFAULT_STEPS, Method, parse_method  # noqa: F401 (re-exported)
from acdc_tui.engines.patching import Ablation, ablated_activations, index_of, patch_data

VANISHING = 1e-6  # clean-run metric gradient this small, relative to the ablated end's: EAP says nothing

EdgeKey = tuple[Node, Node]


@dataclass(frozen=True)
class Attribution:
    method: Method
    steps: int  # gradient points averaged (1 for EAP)
    scores: dict[EdgeKey, float]  # tested edge key -> estimated Δ, in graph order
    vanishing: bool  # the metric's gradient vanishes on the clean run (EAP scores are rounding noise)
    gradient_ratio: float  # |∇ metric| on the clean run over |∇ metric| at the ablated end (L1 over the logits)


def differentiable_metric(metric_factory: Callable[[torch.Tensor], Metric], model, tokens: torch.Tensor) -> Metric:
    """The task's metric built from clean logits computed outside inference mode, so autograd can
    save what it reads (a metric built from inference tensors cannot be differentiated)."""
    with torch.no_grad():
        return metric_factory(model(tokens))


def attribute(
    model,
    graph: ComputationalGraph,
    tokens: torch.Tensor,
    patch_tokens: torch.Tensor | None,
    metric: Metric,
    method: Method,
    steps: int = DEFAULT_STEPS,
    ablation: Ablation = Ablation.CORRUPTED,
    scramble_positions: bool = False,
) -> Attribution:
    """Scores of every tested edge of `graph` (see the module docstring); `metric` must be differentiable
    (differentiable_metric)."""
    if steps < 1:
        raise UserError(f"--steps {steps}: EAP-IG needs at least one interpolation step")
    patch_tokens = patch_data(tokens, patch_tokens, ablation)
    ablated = _normal(ablated_activations(model, graph, patch_tokens, ablation, scramble_positions))
    hooks = _ReceiverHooks(graph)
    with torch.no_grad():
        clean = _normal(_capture(model, tokens, set(graph.hook_names())))
    inputs = [n.name for n in graph.input_nodes]
    path = [None] if method is Method.EAP else [k / steps for k in range(steps)]
    grads: dict[str, torch.Tensor] = {}
    clean_logit_grad = None
    for alpha in path:
        # alpha None: the clean run itself; else the input nodes at ablated + alpha (clean - ablated)
        overrides = {} if alpha is None else {n: ablated[n] + alpha * (clean[n] - ablated[n]) for n in inputs}
        step_grads, logit_grad = hooks.gradients(model, tokens, metric, overrides)
        for name, g in step_grads.items():
            grads[name] = grads[name] + g if name in grads else g
        if alpha is None:
            clean_logit_grad = logit_grad
    grads = {name: g / len(path) for name, g in grads.items()}
    ratio = _gradient_ratio(model, tokens, metric, clean_logit_grad, {n: ablated[n] for n in inputs}) if method is Method.EAP else float("nan")
    scores = _edge_scores(graph, grads, clean, ablated)
    return Attribution(method, len(path), scores, method is Method.EAP and ratio <= VANISHING, ratio)


def _normal(acts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Ordinary (not inference-mode) copies, usable next to autograd."""
    with torch.no_grad():
        return {name: x.clone() for name, x in acts.items()}


def _capture(model, tokens: torch.Tensor, names: set[str]) -> dict[str, torch.Tensor]:
    from acdc_tui.models import backend

    return backend.capture(model, tokens, names)


class _ReceiverHooks:
    """Forward hooks that add a zero leaf to every receiver's input, so one backward pass gives the
    metric's gradient with respect to each of them."""

    def __init__(self, graph: ComputationalGraph) -> None:
        self.names = sorted({r.name for r in graph.nodes if graph.incoming_type[r] is not EdgeType.PLACEHOLDER})

    def gradients(self, model, tokens: torch.Tensor, metric: Metric, overrides: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """(receiver hook -> d metric / d its input [batch, pos, (heads,) d], d metric / d logits)."""
        leaves: dict[str, torch.Tensor] = {}

        def add_leaf(x: torch.Tensor, hook) -> torch.Tensor:
            leaves[hook.name] = torch.zeros_like(x, requires_grad=True)
            return x + leaves[hook.name]

        def replace(value: torch.Tensor):
            return lambda x, hook: value

        fwd = [(name, replace(value)) for name, value in overrides.items()] + [(name, add_leaf) for name in self.names]
        with torch.enable_grad(), _frozen(model), model.hooks(fwd_hooks=fwd):
            logits = model(tokens)  # [batch, pos, vocab]
            value = metric(logits)
            found = torch.autograd.grad(value, [logits] + [leaves[n] for n in self.names], allow_unused=True)
        logit_grad, rest = found[0], found[1:]
        return {n: torch.zeros_like(leaves[n]) if g is None else g.detach() for n, g in zip(self.names, rest)}, logit_grad.detach()


@contextmanager
def _frozen(model) -> Iterator[None]:
    """Parameters without gradients meanwhile: autograd then keeps only what the receivers' gradients need."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def _gradient_ratio(model, tokens: torch.Tensor, metric: Metric, clean_grad: torch.Tensor, ablated_inputs: dict[str, torch.Tensor]) -> float:
    """L1 norm of the metric's logit gradient on the clean run over the same at the ablated inputs."""
    fwd = [(name, (lambda v: lambda x, hook: v)(value)) for name, value in ablated_inputs.items()]
    with torch.no_grad(), model.hooks(fwd_hooks=fwd):
        logits = model(tokens)
    with torch.enable_grad():
        logits = logits.detach().requires_grad_(True)
        (far,) = torch.autograd.grad(metric(logits), [logits])
    reference = float(far.abs().sum())
    here = float(clean_grad.abs().sum())
    return here / reference if reference > 0 else (0.0 if here == 0 else float("inf"))


def _edge_scores(graph: ComputationalGraph, grads: dict[str, torch.Tensor], clean: dict[str, torch.Tensor], ablated: dict[str, torch.Tensor]) -> dict[EdgeKey, float]:
    """d · g per tested edge, one matrix product per receiver hook: [receiver heads, n] @ [n, senders]."""
    with torch.no_grad():
        deltas: dict[Node, torch.Tensor] = {}  # sender -> (ablated - clean) flattened [batch * pos * d]

        def delta(node: Node) -> torch.Tensor:
            if node not in deltas:
                i = index_of(node)
                deltas[node] = (ablated[node.name][i] - clean[node.name][i]).reshape(-1)
            return deltas[node]

        scores: dict[EdgeKey, float] = {}
        by_hook: dict[str, list[Node]] = {}
        for r in graph.nodes:
            if graph.incoming_type[r] is not EdgeType.PLACEHOLDER:
                by_hook.setdefault(r.name, []).append(r)
        for name, receivers in by_hook.items():
            senders = list(dict.fromkeys(e.sender if e.type is EdgeType.ADDITION else e.receiver for r in receivers for e in graph.incoming[r]))
            column = {s: j for j, s in enumerate(senders)}
            g = torch.stack([grads[name][index_of(r)].reshape(-1) for r in receivers])  # [receivers, n]
            d = torch.stack([delta(s) for s in senders])  # [senders, n]
            products = (g @ d.T).tolist()  # [receivers, senders]
            for i, r in enumerate(receivers):
                for e in graph.incoming[r]:
                    source = e.sender if e.type is EdgeType.ADDITION else e.receiver
                    scores[e.key] = products[i][column[source]]
        return {e.key: scores[e.key] for e in graph.tested_edges}
