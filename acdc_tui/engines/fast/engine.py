"""The fast engine: the plain engine's patching semantics (see patching.py), computed incrementally.

Same answer as PlainEngine for every absent-edge map, up to floating-point rounding; the tests
compare both engines decision by decision. Where the time goes instead:

* A reference state. The engine keeps every activation of one absent-edge map (first the clean
  run): each sender's output as `current - ablated`, each head's q/k/v, the natural residual
  stream. An evaluation recomputes only what differs from it: the receivers whose absent sets
  differ, and everything downstream that reads a recomputed sender through a *present* edge (or
  through the natural residual stream). Upstream of the receiver under test that is nothing, and
  late in a run, when most edges are gone, little downstream either. When an evaluation differs
  from the reference in more than the receiver under test, the reference moves (one evaluation).
* Masked edge patching. A patched receiver's input is `ablated_input + mask @ deltas`, one matrix
  product over the stacked sender deltas, with no hooks and no Python loop over edges.
* Only what the metric reads. The output receiver and the unembedding are computed at the
  positions the metric reads (`metric.positions`), and the metric runs on those logits.
* Speculation. Each evaluation also evaluates, in the same batched forward, the next edges in
  ACDC's order, each assuming the edges before it are removed; their values are cached by exact
  absent-edge map, so a later call for that exact map is answered from the cache. A call the
  prediction missed is a cache miss and is evaluated (with a new speculation) from there. The
  algorithm sees one `evaluate` per edge, as with the plain engine: its results are the same by
  construction, whatever the predictions.

Models whose forward pass engines/fast_forward.py does not reproduce run on the plain engine instead
(`fallback_reason` says why); a start-up check compares the clean logits with the model's own.
"""


from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from acdc_tui import allocator
from acdc_tui.core.architecture import NodeKind, hook_name
from acdc_tui.core.graph import Absent, ComputationalGraph, Node
from acdc_tui.core.metrics import Metric, MetricFunction
from acdc_tui.engines.fast.ablated import AblatedCapture
from acdc_tui.engines.fast.forward_pass import ForwardPass, Variant
from acdc_tui.engines.fast.layout import Layout, StageKind
from acdc_tui.engines.fast.parts import Parts
from acdc_tui.engines.fast.reference import AttentionRows, ReferenceState
from acdc_tui.engines.fast.shape import Shape
from acdc_tui.engines.fast_forward import Weights, unsupported_reason
from acdc_tui.engines.patching import Ablation, ablated_activations, engine_start
from acdc_tui.engines.plain import PlainEngine
from acdc_tui.models import backend

# Elements of batched sender outputs (senders x batch x positions x d_model per variant) on CPU. Measured
# (benchmarks/speculation.py): speculation pays on CPU only for the tracr models (S x N ~ 10^4); induction
# (4 x 10^5), mlp3, medium and GPT-2 shapes run faster with width 1, quiet or loaded.
CPU_SPECULATION_BUDGET = 2**18
GPU_MEMORY_FRACTION = 0.25  # of the free GPU memory, for the speculative variants of one forward pass
VARIANT_COPIES = 4  # a variant holds up to this many [senders, N] tensors (outputs, deltas, inputs, norms)
MAX_WIDTH = 16
MEMO_SIZE = 1024  # remembered evaluations (whole absent-edge maps)


class FastEngine:
    """Evaluates the metric for a set of absent edges, incrementally from a cached reference state."""

    name = "fast"

    def __init__(
        self,
        model,
        graph: ComputationalGraph,
        tokens: torch.Tensor,
        patch_tokens: torch.Tensor | None,
        metric: Metric | MetricFunction,
        ablation: Ablation = Ablation.CORRUPTED,
        scramble_positions: bool = False,
        width: int | None = None,
    ) -> None:
        patch_tokens = engine_start(model, tokens, patch_tokens, ablation)
        self.model, self.graph, self.tokens, self.metric = model, graph, tokens, metric
        self.fallback: PlainEngine | None = None
        self.fallback_reason = unsupported_reason(model)
        self.evaluations = self.forwards = self.rebases = 0  # counters, for benchmarks
        if self.fallback_reason is None:
            with torch.inference_mode():
                self._setup(patch_tokens, (Ablation(ablation), scramble_positions), width)
                self.fallback_reason = self._self_check()
        if self.fallback_reason is not None:
            self.fallback = PlainEngine(model, graph, tokens, patch_tokens, metric, ablation, scramble_positions)

    # ---------------------------------------------------------------- setup

    def _setup(self, patch_tokens: torch.Tensor, ablation: tuple[Ablation, bool], width: int | None) -> None:
        """Weights, layout, ablated values, the clean run as the first reference state."""
        self.weights = weights = Weights.of(self.model)
        batch, n_positions = self.tokens.shape
        self.shape = Shape(batch, n_positions, weights.d_model, weights.d_head, weights.n_heads, weights.W_U.dtype, weights.W_U.device)
        self._read_metric()
        self.layout = Layout(weights, self.graph)
        self.tested = [edge for edge in self.graph.tested_edges if edge.receiver in self.layout.receivers]
        self.tested_position = {edge.key: i for i, edge in enumerate(self.tested)}
        clean_resid = self._capture(patch_tokens, ablation)
        valid_rows = np.ones((3, weights.n_heads), dtype=bool)  # k/v rows past the key/value heads do not exist
        valid_rows[1:, weights.kv_heads :] = False
        pos_qk = None if weights.W_pos_qk is None else weights.W_pos_qk[:n_positions].to(self.shape.device, self.shape.dtype).repeat(batch, 1)  # shortformer: [B*P, D]
        group = weights.n_heads // weights.kv_heads
        self.parts = Parts(weights, self.shape, self.layout, self.ablated, self.read, self.positions_t, valid_rows, group, pos_qk)
        self.reference = self._clean_reference(clean_resid)
        self.last_logits: torch.Tensor | None = None
        self._memo: OrderedDict = OrderedDict()  # whole absent-edge map -> value, most recent last
        self._hits, self._run_length = 0, 4.0  # speculation: hits since the last batch, their running mean
        self.width = self._default_width() if width is None else width
        self._forward([{}], store=True, everything=True)  # the clean run, everything computed

    def _read_metric(self) -> None:
        """The positions the metric reads (all, if it does not say) and the function reading them."""
        metric, n_positions = Metric.of(self.metric), self.shape.n_positions
        if metric.on_selected is None or metric.positions is None:
            self.positions = list(range(n_positions))
            self.read = metric.on_selected or metric
        else:
            self.positions = [p % n_positions for p in metric.positions]
            self.read = metric.on_selected
        self.positions_t = torch.tensor(self.positions, device=self.shape.device)

    def _capture(self, patch_tokens: torch.Tensor, ablation: tuple[Ablation, bool]) -> torch.Tensor:
        """The ablated values (the very activations the plain engine patches in), the clean inputs' deltas
        (`self._input_deltas`) and the model's clean logits (for the self-check); returns the clean
        residual stream at the first block's input."""
        shape, layout, n_layers = self.shape, self.layout, self.weights.n_layers
        capture = AblatedCapture(layout, shape, n_layers)
        captured = ablated_activations(self.model, self.graph, patch_tokens, *ablation, keep=capture.keep)
        resid_pre = hook_name(NodeKind.RESID_PRE)
        clean_logits, clean = backend.logits_and_capture(self.model, self.tokens, {n.name for n in layout.inputs} | {resid_pre})
        self._model_logits = clean_logits[:, self.positions].clone()  # for the self-check
        del clean_logits
        self._input_deltas = torch.zeros(layout.n_senders, shape.flat_size, dtype=shape.dtype, device=shape.device)  # current - ablated
        for i, node in enumerate(layout.inputs):
            self._input_deltas[i] = shape.flat(clean[node.name]) - capture.senders[i]
        self.ablated = capture.finish(captured, n_layers, self.weights.kv_heads, self.graph.output_node.name, self.positions_t)
        return shape.flat(clean[resid_pre])

    def _clean_reference(self, clean_resid: torch.Tensor) -> ReferenceState:
        """The reference state before the clean run: no absent rows, only the inputs' deltas."""
        layout, shape, n_layers, heads = self.layout, self.shape, self.weights.n_layers, self.weights.n_heads
        attention = [
            AttentionRows(
                np.repeat(np.repeat(layout.attn_stage[layer].reads[None, None], heads, 1), 3, 0),
                np.zeros((3, heads), dtype=bool),
                np.zeros((3, heads), dtype=bool),
            )
            for layer in range(n_layers)
        ]
        singles = [stage for stage in layout.stages if stage.kind is not StageKind.ATTN]
        deltas, self._input_deltas = self._input_deltas, None
        naturals: list[torch.Tensor | None] = [None] * len(layout.stages)
        naturals[0] = clean_resid
        return ReferenceState(
            rows={receiver: frozenset() for receiver in layout.receivers},
            attention=attention,
            single_masks={stage.index: stage.reads.copy() for stage in singles},
            single_patched={stage.index: False for stage in singles},
            deltas=deltas,
            deltas_at_positions=self.parts.at_positions(deltas),
            qkv=[torch.zeros(3, heads, shape.rows * shape.d_head, dtype=shape.dtype, device=shape.device) for _ in range(n_layers)],
            naturals=naturals,
        )

    def _default_width(self) -> int:
        """Speculation width. On CPU a batched forward costs about the sum of its parts, so it pays only
        where the per-call overhead dominates (tiny models: tracr); on a GPU, as many variants as a
        quarter of the free memory holds."""
        per_variant = self.layout.n_senders * self.shape.flat_size
        if self.shape.device.type == "cpu":
            budget = CPU_SPECULATION_BUDGET
        else:
            free_bytes, _ = torch.cuda.mem_get_info(self.shape.device)
            budget = int(GPU_MEMORY_FRACTION * free_bytes) // (VARIANT_COPIES * self.ablated.senders.element_size())
        return max(1, min(MAX_WIDTH, budget // max(per_variant, 1)))

    def _self_check(self) -> str | None:
        """The clean logits must be the model's own; otherwise fall back to the plain engine."""
        want, got = self._model_logits, self.reference.logits
        del self._model_logits
        tol = (1e-9 if self.shape.dtype == torch.float64 else 1e-3) * max(1.0, float(want.abs().max()))
        err = float((got - want).abs().max())
        if not err <= tol:
            return f"the hand-written forward pass differs from the model's by {err:.3g} (> {tol:.3g})"
        return None

    @property
    def ref_logits(self) -> torch.Tensor | None:
        """The reference state's logits at the read positions (for tests)."""
        return self.reference.logits

    # ---------------------------------------------------------------- evaluation

    def evaluate(self, absent: Absent) -> float:
        if self.fallback is not None:
            return self.fallback.evaluate(absent)
        self.evaluations += 1
        with torch.inference_mode():
            diff = self.reference.diff(absent)
            # Values are remembered by exact absent-edge map: speculated states are answered from
            # here, and a state evaluated again gives the very same float (as the plain engine does),
            # although the reference state, and so the rounding, may have changed in between.
            key = self.reference.key(diff)
            if key in self._memo:
                self._hits += 1
                self._memo.move_to_end(key)
                return self._memo[key]
            if not diff:
                return self._remember(key, self.reference.metric)
            # adapt the speculation width to how many predictions came true lately
            self._run_length = 0.7 * self._run_length + 0.3 * self._hits
            self._hits = 0
            current = self._current_edge(diff)
            if len(diff) > 1 and current is not None:
                # move the reference to this state minus the receiver under test
                under_test = current.receiver
                self._forward([{r: a for r, a in diff.items() if r != under_test}], store=True)
                self.rebases += 1
                diff = {under_test: diff[under_test]}
            variants = [diff] + self._speculate(diff, current)
            values = self._forward(variants)
            for variant, value in zip(variants[1:], values[1:]):
                variant_key = self.reference.key(variant)
                if variant_key not in self._memo:
                    self._remember(variant_key, value)
            return self._remember(key, values[0])

    def evaluate_as_reference(self, absent: Absent) -> float:
        """`evaluate`, making this state the reference: for a state the run continues from that differs
        from the reference in many receivers at once (the attribution prefilter's), where `evaluate`
        would guess the edge under test wrongly and recompute from the earliest receiver at every step."""
        if self.fallback is not None:
            return self.fallback.evaluate(absent)
        self.evaluations += 1
        with torch.inference_mode():
            diff = self.reference.diff(absent)
            if diff:
                self._forward([diff], store=True)
                self.rebases += 1
            return self._remember(self.reference.key({}), self.reference.metric)

    def _remember(self, key: frozenset, value: float) -> float:
        self._memo[key] = value
        self._memo.move_to_end(key)
        while len(self._memo) > MEMO_SIZE:
            self._memo.popitem(last=False)
        return value

    def logits(self, absent: Absent) -> torch.Tensor:
        """Logits at the positions the metric reads ([batch, len(positions), vocab]), for tests."""
        if self.fallback is not None:
            return self.fallback.logits(absent)
        with torch.inference_mode():
            diff = self.reference.diff(absent)
            if not diff:
                return self.reference.logits
            self._forward([diff], keep_logits=True)
            return self.last_logits[0]

    def _current_edge(self, diff: dict[Node, frozenset]):
        """The edge under test, as far as one can tell: the latest (in ACDC's order) newly absent edge."""
        best = None
        for receiver, absent in diff.items():
            for sender in absent - self.reference.rows[receiver]:
                i = self.tested_position.get((sender, receiver))
                if i is not None and (best is None or i > best):
                    best = i
        return None if best is None else self.tested[best]

    def _speculate(self, diff: dict[Node, frozenset], current) -> list[dict[Node, frozenset]]:
        """The next edges' test states, each assuming every edge before it is removed."""
        out: list[dict[Node, frozenset]] = []
        width = min(self.width, 1 + round(1.5 * self._run_length + 0.5))
        if current is None or width <= 1:
            return out
        variant = dict(diff)
        for edge in self.tested[self.tested_position[current.key] + 1 :]:
            if len(out) >= width - 1:
                break
            receiver = edge.receiver
            row = variant[receiver] if receiver in variant else self.reference.rows[receiver]
            if edge.sender in row:
                continue
            variant = dict(variant)
            row = row | {edge.sender}
            if row == self.reference.rows[receiver]:
                del variant[receiver]
            else:
                variant[receiver] = row
            out.append(variant)
        return out

    def _forward(self, variants: list[Variant], store: bool = False, everything: bool = False, keep_logits: bool = False) -> list[float]:
        """Metric of each variant (absent rows differing from the reference). With `store` (one
        variant) the reference state becomes that variant's. The pass's tensors are gone when it returns."""
        self.forwards += 1
        forward = ForwardPass(self.parts, self.reference, variants, (store, everything, keep_logits), self.last_logits)
        try:
            return forward.run()
        finally:
            self.last_logits = forward.logits
            allocator.trim_now_and_then(self.shape.flat_size * self.ablated.senders.element_size(), self.shape.device.type)
