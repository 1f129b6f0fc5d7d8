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

Models whose forward pass fast_forward.py does not reproduce run on the plain engine instead
(`fallback_reason` says why); a start-up check compares the clean logits with the model's own.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from acdc_tui import allocator, threads
from acdc_tui.core.architecture import NodeKind, hook_name
from acdc_tui.core.graph import Absent, ComputationalGraph, EdgeType, Node
from acdc_tui.core.metrics import Metric
from acdc_tui.engines.fast_forward import Weights, unsupported_reason
from acdc_tui.engines.patching import ablated_activations, patch_data
from acdc_tui.engines.plain import PlainEngine
from acdc_tui.models import backend

QKV = ("q", "k", "v")
# Elements of batched sender outputs (senders x batch x positions x d_model per variant) on CPU. Measured
# (benchmarks/speculation.py): speculation pays on CPU only for the tracr models (S x N ~ 10^4); induction
# (4 x 10^5), mlp3, medium and GPT-2 shapes run faster with width 1, quiet or loaded.
CPU_SPECULATION_BUDGET = 2**18
GPU_MEMORY_FRACTION = 0.25  # of the free GPU memory, for the speculative variants of one forward pass
VARIANT_COPIES = 4  # a variant holds up to this many [senders, N] tensors (outputs, deltas, inputs, norms)
MAX_WIDTH = 16
MEMO_SIZE = 1024  # remembered evaluations (whole absent-edge maps)


class _Stage:
    """One step of the forward pass: layer l's attention, its post-attention norm (post-norm families),
    layer l's MLP, or the output. It reads the sender columns below `n_up` that are its senders (`base`:
    all of them, except that with post-norms heads feed only their layer's post-norm) and writes the
    columns `cols`."""

    def __init__(self, index: int, kind: str, layer: int | None, n_up: int, cols: list[int]) -> None:
        self.index, self.kind, self.layer, self.n_up, self.cols = index, kind, layer, n_up, cols
        self.span = slice(cols[0], cols[-1] + 1) if cols else slice(0, 0)  # the columns are consecutive


class FastEngine:
    """Evaluates the metric for a set of absent edges, incrementally from a cached reference state."""

    name = "fast"

    def __init__(
        self,
        model,
        graph: ComputationalGraph,
        tokens: torch.Tensor,
        patch_tokens: torch.Tensor | None,
        metric: Metric,
        zero_ablation: bool = False,
        scramble_positions: bool = False,
        width: int | None = None,
        mean_ablation: bool = False,
    ) -> None:
        patch_tokens = patch_data(tokens, patch_tokens, zero_ablation, mean_ablation)
        threads.fit_to_work(tokens.numel() * model.cfg.d_model, tokens.device.type)
        allocator.fit_to_work(tokens.numel() * model.cfg.d_model * 4, tokens.device.type)  # float32 bytes or more
        self.model, self.graph, self.tokens, self.metric = model, graph, tokens, metric
        self.fallback: PlainEngine | None = None
        self.fallback_reason = unsupported_reason(model)
        self.evaluations = self.forwards = self.rebases = 0  # counters, for benchmarks
        if self.fallback_reason is None:
            with torch.inference_mode():
                self._setup(patch_tokens, zero_ablation, scramble_positions, width, mean_ablation)
                self.fallback_reason = self._self_check()
        if self.fallback_reason is not None:
            self.fallback = PlainEngine(model, graph, tokens, patch_tokens, metric, zero_ablation, scramble_positions, mean_ablation)

    # ---------------------------------------------------------------- setup

    def _setup(self, patch_tokens: torch.Tensor, zero_ablation: bool, scramble_positions: bool, width: int | None, mean_ablation: bool) -> None:
        model, graph, tokens = self.model, self.graph, self.tokens
        self.w = w = Weights.of(model)
        L, H, D, dh = w.n_layers, w.n_heads, w.d_model, w.d_head
        B, P = tokens.shape
        self.B, self.P = B, P
        self.N = N = B * P * D
        self.dtype, self.device = w.W_U.dtype, w.W_U.device

        positions = getattr(self.metric, "positions", None)
        on_selected = getattr(self.metric, "on_selected", None)
        if on_selected is None or positions is None:
            self.pm = list(range(P))
            self._read = on_selected or self.metric
        else:
            self.pm = [p % P for p in positions]
            self._read = on_selected
        self.pm_t = torch.tensor(self.pm, device=self.device)

        # senders: input nodes, then per layer its heads' results, (post-norms) its normed attention output, its MLP output
        self.inputs = list(graph.input_nodes)
        m = 1 if w.has_mlp else 0
        pn = 1 if w.post_norm else 0
        n_in = len(self.inputs)
        self.senders: list[Node] = list(self.inputs)
        for l in range(L):
            self.senders += [Node(hook_name(NodeKind.RESULT, l), h) for h in range(H)]
            if pn:
                self.senders.append(Node(hook_name(NodeKind.ATTN_OUT, l)))
            if m:
                self.senders.append(Node(hook_name(NodeKind.MLP_OUT, l)))
        self.sidx = {s: i for i, s in enumerate(self.senders)}
        self._sender_columns: dict[str, list[tuple[int, int | None]]] = {}  # hook name -> (column, head)
        for i, s in enumerate(self.senders):
            self._sender_columns.setdefault(s.name, []).append((i, s.head))
        self._qkv_input_hooks = {hook_name(k, l) for l in range(L) for k in (NodeKind.Q_INPUT, NodeKind.K_INPUT, NodeKind.V_INPUT)}
        self.S = len(self.senders)

        self.stages: list[_Stage] = []
        head_cols = np.zeros(self.S, dtype=bool)
        for l in range(L):
            first = n_in + l * (H + pn + m)  # the layer's first column: its heads, (post-norms) its attention output, then its MLP
            self.stages.append(_Stage(len(self.stages), "attn", l, first, list(range(first, first + H))))
            head_cols[first : first + H] = True
            if pn:  # reads its own layer's heads only
                self.stages.append(_Stage(len(self.stages), "post", l, first + H, [first + H]))
            if m:  # in parallel blocks the MLP reads what the heads read, not their results
                self.stages.append(_Stage(len(self.stages), "mlp", l, first + (0 if w.parallel else H + pn), [first + H + pn]))
        self.stages.append(_Stage(len(self.stages), "out", None, self.S, []))
        self.attn_stage = {s.layer: s for s in self.stages if s.kind == "attn"}
        self.post_stage = {s.layer: s for s in self.stages if s.kind == "post"}
        self.mlp_stage = {s.layer: s for s in self.stages if s.kind == "mlp"}
        for st in self.stages:  # which columns below n_up are the stage's senders
            st.base = np.ones(st.n_up, dtype=bool)
            if pn:
                st.base = ~head_cols[: st.n_up]
                if st.kind == "post":
                    st.base = np.zeros(st.n_up, dtype=bool)
                    st.base[st.n_up - H :] = True
        self.out_stage = self.stages[-1]

        # receivers: node -> (stage, row (x, h) or None, direct?)
        self.recv: dict[Node, tuple[_Stage, tuple[int, int] | None, bool]] = {}
        for r in graph.nodes:
            t = graph.incoming_type[r]
            if t is EdgeType.PLACEHOLDER:
                continue
            k = r.kind
            if k in ("q_input", "k_input", "v_input"):
                self.recv[r] = (self.attn_stage[r.layer], ("qkv".index(k[0]), r.head), False)
            elif k in QKV:
                self.recv[r] = (self.attn_stage[r.layer], ("qkv".index(k), r.head), True)
            elif k == "mlp_in":
                self.recv[r] = (self.mlp_stage[r.layer], None, False)
            elif k == "attn_sum":
                self.recv[r] = (self.post_stage[r.layer], None, False)
            elif k == "output":
                self.recv[r] = (self.out_stage, None, False)
            else:  # pragma: no cover - the graph has no other receivers
                raise AssertionError(r)
        self.receivers = list(self.recv)
        self.tested = [e for e in graph.tested_edges if e.receiver in self.recv]
        self.tested_pos = {e.key: i for i, e in enumerate(self.tested)}

        # ablated values (the very activations the plain engine patches in) and the clean inputs
        dt, dev = self.dtype, self.device
        self.abl = torch.empty(self.S, N, dtype=dt, device=dev)  # ablated sender outputs
        abl = ablated_activations(model, graph, patch_tokens, zero_ablation, scramble_positions, mean_ablation, keep=self._keep_ablated)
        clean_logits, clean = backend.logits_and_capture(model, tokens, {n.name for n in self.inputs} | {"blocks.0.hook_resid_pre"})
        self._model_logits = clean_logits[:, self.pm].clone()  # for the self-check
        del clean_logits
        self.delta = torch.zeros(self.S, N, dtype=dt, device=dev)  # reference state: current - ablated
        for i, s in enumerate(self.inputs):
            self.delta[i] = self._flat(clean[s.name]) - self.abl[i]
        self.A_attn = [self._ablated_qkv_inputs(abl, l) for l in range(L)]  # [3, H, N] per layer
        self.abl_qkv = [torch.stack([self._per_head(abl[hook_name(k, l)]) for k in (NodeKind.Q, NodeKind.K, NodeKind.V)]) for l in range(L)]
        self.A_mlp = [abl[hook_name(NodeKind.MLP_IN, l)].reshape(N) for l in range(L)] if m else []
        self.A_post = [abl[hook_name(NodeKind.ATTN_SUM, l)].reshape(N) for l in range(L)] if pn else []
        self.group = w.n_heads // w.kv_heads
        self.valid_rows = np.ones((3, H), dtype=bool)  # k/v rows past the key/value heads do not exist
        self.valid_rows[1:, w.kv_heads :] = False
        self.pos_qk = None if w.W_pos_qk is None else w.W_pos_qk[:P].to(dev, dt).repeat(B, 1)  # shortformer: [B*P, D]
        out = graph.output_node.name
        self.A_out = abl[out][:, self.pm_t].reshape(-1)
        self.delta_pm = self.delta.view(self.S, B, P, D)[:, :, self.pm_t].reshape(self.S, -1)

        # reference state: absent rows, masks (host, numpy), q/k/v, natural residual stream
        self.ref_rows: dict[Node, frozenset] = {r: frozenset() for r in self.receivers}
        self.M_attn = [np.repeat(np.repeat(self.attn_stage[l].base[None, None], H, 1), 3, 0) for l in range(L)]
        self.pat_attn = [np.zeros((3, H), dtype=bool) for _ in range(L)]
        self.dir_attn = [np.zeros((3, H), dtype=bool) for _ in range(L)]
        self.M_one = {s.index: s.base.copy() for s in self.stages if s.kind != "attn"}
        self.pat_one = {s.index: False for s in self.stages if s.kind != "attn"}
        self.qkv_ref = [torch.zeros(3, H, B * P * dh, dtype=dt, device=dev) for _ in range(L)]
        self.X_ref: list[torch.Tensor | None] = [None] * len(self.stages)
        self.X_ref[0] = self._flat(clean["blocks.0.hook_resid_pre"])
        self.ref_metric = float("nan")
        self.ref_logits: torch.Tensor | None = None
        self._memo: OrderedDict = OrderedDict()  # whole absent-edge map -> value, most recent last
        self._ref_items: frozenset = frozenset()  # the reference state's non-empty rows, as (receiver, senders)
        self._hits, self._run_length = 0, 4.0  # speculation: hits since the last batch, their running mean

        self.width = self._default_width() if width is None else width
        # the clean run, everything computed
        self._forward([{}], store=True, everything=True)

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        """[batch, pos, d_model] (or broadcastable) -> [N] on the engine's device and dtype."""
        return x.to(self.device, self.dtype).expand(self.B, self.P, self.w.d_model).reshape(-1)

    def _keep_ablated(self, name: str, x: torch.Tensor):
        """What the engine keeps of an ablated activation, while the capture runs, so that no copy of every
        hook's [batch, pos, heads, d_model] activation is ever held: sender outputs go straight into
        `self.abl`; a q/k/v input that is one residual stream for all heads keeps one head's copy."""
        columns = self._sender_columns.get(name)
        if columns is not None:
            for column, head in columns:
                self.abl[column] = self._flat(x if head is None else x[:, :, head])
            return None
        if name in self._qkv_input_hooks and torch.equal(x, x[:, :, :1].expand_as(x)):
            return x[:, :, :1].clone()  # [batch, pos, 1, d_model]: the same for every head
        return x.clone()

    def _per_head(self, t: torch.Tensor) -> torch.Tensor:
        """[B, P, heads, d] -> [H, B*P*d], k/v rows padded to one per query head."""
        H = self.w.n_heads
        rows = t.permute(2, 0, 1, 3).reshape(t.shape[2], -1).to(self.device, self.dtype)
        return rows if rows.shape[0] == H else torch.cat([rows, rows.new_zeros(H - rows.shape[0], rows.shape[1])])

    def _ablated_qkv_inputs(self, abl: dict, layer: int) -> torch.Tensor:
        """Layer `layer`'s ablated q/k/v inputs per head, [3, H, N]: usually one residual stream, expanded."""
        ins = [abl.pop(hook_name(k, layer)) for k in (NodeKind.Q_INPUT, NodeKind.K_INPUT, NodeKind.V_INPUT)]
        if all(t.shape[2] == 1 and torch.equal(t, ins[0]) for t in ins):
            return self._flat(ins[0][:, :, 0]).reshape(1, 1, self.N).expand(3, self.w.n_heads, self.N)
        heads = (self.w.n_heads, self.w.kv_heads, self.w.kv_heads)
        return torch.stack([self._per_head(t.expand(-1, -1, n, -1)) for t, n in zip(ins, heads)])

    def _default_width(self) -> int:
        """Speculation width. On CPU a batched forward costs about the sum of its parts, so it pays only
        where the per-call overhead dominates (tiny models: tracr); on a GPU, as many variants as a
        quarter of the free memory holds."""
        per_variant = self.S * self.N
        if self.device.type == "cpu":
            budget = CPU_SPECULATION_BUDGET
        else:
            free_bytes, _ = torch.cuda.mem_get_info(self.device)
            budget = int(GPU_MEMORY_FRACTION * free_bytes) // (VARIANT_COPIES * self.abl.element_size())
        return max(1, min(MAX_WIDTH, budget // max(per_variant, 1)))

    def _self_check(self) -> str | None:
        """The clean logits must be the model's own; otherwise fall back to the plain engine."""
        want, got = self._model_logits, self.ref_logits
        del self._model_logits
        tol = (1e-9 if self.dtype == torch.float64 else 1e-3) * max(1.0, float(want.abs().max()))
        err = float((got - want).abs().max())
        if not err <= tol:
            return f"the hand-written forward pass differs from the model's by {err:.3g} (> {tol:.3g})"
        return None

    # ---------------------------------------------------------------- evaluation

    def evaluate(self, absent: Absent) -> float:
        if self.fallback is not None:
            return self.fallback.evaluate(absent)
        self.evaluations += 1
        with torch.inference_mode():
            diff = self._diff(absent)
            # Values are remembered by exact absent-edge map: speculated states are answered from
            # here, and a state evaluated again gives the very same float (as the plain engine does),
            # although the reference state, and so the rounding, may have changed in between.
            key = self._state_key(diff)
            if key in self._memo:
                self._hits += 1
                self._memo.move_to_end(key)
                return self._memo[key]
            if not diff:
                return self._remember(key, self.ref_metric)
            # adapt the speculation width to how many predictions came true lately
            self._run_length = 0.7 * self._run_length + 0.3 * self._hits
            self._hits = 0
            current = self._current_edge(diff)
            if len(diff) > 1 and current is not None:
                # move the reference to this state minus the receiver under test
                rc = current.receiver
                self._forward([{r: a for r, a in diff.items() if r != rc}], store=True)
                self.rebases += 1
                diff = {rc: diff[rc]}
            variants = [diff] + self._speculate(diff, current, absent)
            values = self._forward(variants)
            for d, v in zip(variants[1:], values[1:]):
                k = self._state_key(d)
                if k not in self._memo:
                    self._remember(k, v)
            return self._remember(key, values[0])

    def evaluate_as_reference(self, absent: Absent) -> float:
        """`evaluate`, making this state the reference: for a state the run continues from that differs
        from the reference in many receivers at once (the attribution prefilter's), where `evaluate`
        would guess the edge under test wrongly and recompute from the earliest receiver at every step."""
        if self.fallback is not None:
            return self.fallback.evaluate(absent)
        self.evaluations += 1
        with torch.inference_mode():
            diff = self._diff(absent)
            if diff:
                self._forward([diff], store=True)
                self.rebases += 1
            return self._remember(self._state_key({}), self.ref_metric)

    def _state_key(self, diff: dict[Node, frozenset]) -> frozenset:
        """The whole absent-edge map (non-empty rows), as a hashable key, from the reference's and a diff."""
        if not diff:
            return self._ref_items
        return self._ref_items.difference((r, self.ref_rows[r]) for r in diff).union((r, a) for r, a in diff.items() if a)

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
            diff = self._diff(absent)
            if not diff:
                return self.ref_logits
            self._forward([diff], keep_logits=True)
            return self._last_logits[0]

    def _diff(self, absent: Absent) -> dict[Node, frozenset]:
        """Receivers whose absent senders differ from the reference state's, with their absent sets."""
        out = {}
        for r, ref in self.ref_rows.items():
            a = absent.get(r)
            if not a:
                if ref:
                    out[r] = frozenset()
            elif a != ref:
                out[r] = frozenset(a)
        return out

    def _current_edge(self, diff: dict[Node, frozenset]):
        """The edge under test, as far as one can tell: the latest (in ACDC's order) newly absent edge."""
        best = None
        for r, a in diff.items():
            for s in a - self.ref_rows[r]:
                i = self.tested_pos.get((s, r))
                if i is not None and (best is None or i > best):
                    best = i
        return None if best is None else self.tested[best]

    def _speculate(self, diff: dict[Node, frozenset], current, absent: Absent) -> list[dict[Node, frozenset]]:
        """The next edges' test states, each assuming every edge before it is removed."""
        out: list[dict[Node, frozenset]] = []
        width = min(self.width, 1 + round(1.5 * self._run_length + 0.5))
        if current is None or width <= 1:
            return out
        d = dict(diff)
        for e in self.tested[self.tested_pos[current.key] + 1 :]:
            if len(out) >= width - 1:
                break
            r = e.receiver
            row = d[r] if r in d else self.ref_rows[r]
            if e.sender in row:
                continue
            d = dict(d)
            row = row | {e.sender}
            if row == self.ref_rows[r]:
                del d[r]
            else:
                d[r] = row
            out.append(d)
        return out

    # ---------------------------------------------------------------- the incremental forward pass

    def _to_device(self, array, dtype: torch.dtype | None = None) -> torch.Tensor:
        """A host array (numpy or a list) on the engine's device. The copy is queued without waiting for
        the device (a blocking copy would synchronise the stream): CUDA stages pageable memory at once."""
        return torch.from_numpy(np.asarray(array)).to(self.device, dtype, non_blocking=True)

    def _row_mask(self, r: Node, absent: frozenset, n_up: int) -> np.ndarray:
        m = self.recv[r][0].base.copy()
        if absent:
            m[[self.sidx[s] for s in absent]] = False
        return m

    def _mix(self, mask: np.ndarray, A: torch.Tensor, chunks: list, dirty: list[int], at_pm: bool = False) -> torch.Tensor:
        """`A + sum over present senders of delta` for rows x variants: mask [R, K, S_up] -> [R, K, n]."""
        R, K, S_up = mask.shape
        delta_ref = self.delta_pm if at_pm else self.delta
        m1 = mask.copy()
        dirty = [c for c in dirty if c < S_up]  # parallel blocks: a layer's heads are not below its MLP
        if dirty:
            m1[..., dirty] = False
        m1t = self._to_device(m1.reshape(R * K, S_up), self.dtype)
        out = (m1t @ delta_ref[:S_up]).view(R, K, -1)
        for cols, _, delta in chunks:
            keep = [i for i, c in enumerate(cols) if c < S_up]
            if not keep:
                continue
            if len(keep) < len(cols):
                cols, delta = [cols[i] for i in keep], delta[keep]
            if at_pm:
                n = delta.shape[0]
                delta = delta.view(n, K, self.B, self.P, -1)[:, :, :, self.pm_t].reshape(n, K, -1)
            m2 = self._to_device(np.ascontiguousarray(mask[..., cols].transpose(1, 0, 2)), self.dtype)  # [K, R, n]
            out = out + torch.bmm(m2, delta.transpose(0, 1)).transpose(0, 1)
        return A.unsqueeze(1) + out

    def _forward(self, variants: list[dict[Node, frozenset]], store: bool = False, everything: bool = False, keep_logits: bool = False) -> list[float]:
        """Metric of each variant (absent rows differing from the reference). With `store` (one
        variant) the reference state becomes that variant's."""
        self.forwards += 1
        w, K, B, P, D, dh, H = self.w, len(variants), self.B, self.P, self.w.d_model, self.w.d_head, self.w.n_heads
        N = self.N
        changed: dict[int, dict] = {}  # stage index -> {row or None: True}
        for d in variants:
            for r in d:
                st, row, _ = self.recv[r]
                changed.setdefault(st.index, {})[row] = True
        chunks: list = []  # (sender columns, current [n, K, N], delta [n, K, N]) of recomputed senders
        dirty: list[int] = []
        new_cur: dict[int, tuple] = {}  # stage index -> (columns, current [n, K, N])
        naturals: dict[int, torch.Tensor] = {}
        qkv_new: dict[int, tuple] = {}

        def natural(i: int) -> torch.Tensor:
            """The natural residual stream at stage i's input, [K or 1, N]: stage i-1's plus what the
            stages writing columns n_up(i-1)..n_up(i) add (with attention output biases)."""
            if i in naturals:
                return naturals[i]
            if i == 0 or (self.X_ref[i] is not None and not dirty_below(self.stages[i].n_up)):
                x = self.X_ref[i].unsqueeze(0)
            else:
                x = natural(i - 1)
                lo, hi = self.stages[i - 1].n_up, self.stages[i].n_up
                for st in self.stages:
                    if not st.cols or not lo <= st.cols[0] < hi:
                        continue
                    a, b = st.cols[0], st.cols[-1] + 1
                    outs = (self.abl[a:b] + self.delta[a:b]).unsqueeze(1).expand(b - a, K, N)
                    if st.index in new_cur:
                        outs = new_cur[st.index][1]  # [n, K, N]: every column of the stage was recomputed
                    if st.kind == "attn":
                        if not w.post_norm:  # with post-norms the heads reach the residual stream through their norm
                            x = x + (outs.sum(0) + w.b_O[st.layer].reshape(1, D).expand(B * P, D).reshape(N))
                    else:
                        x = x + outs[0]
            naturals[i] = x
            return x

        def heads_sum(l: int) -> torch.Tensor:
            """The post-attention norm's unpatched input, [K or 1, N]: the sum of the layer's heads as
            they are now, plus the output bias."""
            st = self.attn_stage[l]
            outs = new_cur[st.index][1] if st.index in new_cur else (self.abl[st.span] + self.delta[st.span]).unsqueeze(1)
            return outs.sum(0) + w.b_O[l].reshape(1, D).expand(B * P, D).reshape(N)

        def dirty_below(n_up: int) -> list[int]:
            return [c for c in dirty if c < n_up]

        def receives_dirty(mask_rows: np.ndarray) -> np.ndarray:
            below = dirty_below(mask_rows.shape[-1])
            return mask_rows[..., below].any(-1) if below else np.zeros(mask_rows.shape[:-1], dtype=bool)

        values: list[float] | None = None
        # `natural` calls itself, so its closure is a reference cycle that holds `naturals` and `new_cur`
        # (activation-sized tensors per layer) until the cyclic garbage collector happens to run: at GPT-2
        # scale several forwards' worth of them were alive at once (docs/cost.md). Cleared here.
        try:
            for st in self.stages:
                ch = changed.get(st.index, {})
                if st.kind == "attn":
                    l = st.layer
                    Mref, pat, dirr = self.M_attn[l], self.pat_attn[l], self.dir_attn[l]
                    if everything:
                        need = self.valid_rows.copy()
                    else:
                        need = ((pat & receives_dirty(Mref)) | (~pat & bool(receives_dirty(st.base)))) & self.valid_rows
                        for row in ch:
                            need[row] = True
                    if not need.any():
                        continue
                    xs, hs = np.nonzero(need)
                    R = len(xs)
                    rowpos = {(int(x), int(h)): i for i, (x, h) in enumerate(zip(xs, hs))}
                    mask = np.repeat(Mref[xs, hs][:, None], K, 1)
                    patched = np.repeat(pat[xs, hs][:, None], K, 1)
                    direct = np.repeat(dirr[xs, hs][:, None], K, 1)
                    for k, d in enumerate(variants):
                        for r, a in d.items():
                            rst, row, is_direct = self.recv[r]
                            if rst is not st:
                                continue
                            i = rowpos[row]
                            if is_direct:
                                direct[i, k] = bool(a)
                            else:
                                mask[i, k] = self._row_mask(r, a, st.n_up)
                                patched[i, k] = bool(a)
                    xs_t, hs_t = self._to_device(xs), self._to_device(hs)
                    if not patched.any():  # every row reads the natural residual stream (the clean run, say)
                        inp = natural(st.index).unsqueeze(0).expand(R, K, N)
                    else:
                        inp = self._mix(mask, self.A_attn[l][xs_t, hs_t], chunks, dirty)
                    if patched.any() and not patched.all():
                        keep = self._to_device(patched).unsqueeze(-1)
                        inp = torch.where(keep, inp, natural(st.index).unsqueeze(0))
                    x = w.normalize(inp.reshape(R, K * B * P, D), w.ln1[l])
                    if self.pos_qk is not None:  # shortformer positions join q and k (not v) after the norm
                        qk = self._to_device(xs < 2).reshape(R, 1, 1)
                        x = x + qk * self.pos_qk.repeat(K, 1).unsqueeze(0)
                    proj = torch.bmm(x, w.W_qkv[l][xs_t, hs_t]) + w.b_qkv[l][xs_t, hs_t].unsqueeze(1)  # [R, K*B*P, dh]
                    if w.qk_full is not None:
                        proj = w.full_width_qk(l, x, xs, hs, proj)
                    proj = w.qk_normalize(l, proj, xs_t)  # Qwen3: q/k norms inside the head's q/k computation
                    proj = proj.view(R, K, B * P * dh)
                    if direct.any():
                        ab = self._to_device(direct).unsqueeze(-1)
                        proj = torch.where(ab, self.abl_qkv[l][xs_t, hs_t].unsqueeze(1), proj)
                    g = self.group  # query heads per key/value head: a k/v row changes its whole group
                    heads = sorted({int(h) for x_, h in zip(xs, hs) if x_ == 0} | {int(j) * g + i for x_, j in zip(xs, hs) if x_ > 0 for i in range(g)})
                    Hd = len(heads)
                    heads_t = self._to_device(heads)
                    qkv = self.qkv_ref[l].unsqueeze(2).expand(3, H, K, B * P * dh).clone()
                    qkv[xs_t, hs_t] = proj
                    kv_t = heads_t // g
                    q, k_, v = (t.reshape(Hd * K * B, P, dh) for t in (qkv[0, heads_t], qkv[1, kv_t], qkv[2, kv_t]))
                    z = w.attention(l, q, k_, v).reshape(Hd, K * B * P, dh)
                    result = torch.bmm(z, w.W_O[l][heads_t]).view(Hd, K, N)
                    cols = [st.cols[h] for h in heads]
                    if Hd < H:  # the natural residual stream needs every head: the others as they are
                        full = (self.abl[st.span] + self.delta[st.span]).unsqueeze(1).expand(H, K, N).clone()
                        full[heads_t] = result
                    else:
                        full = result
                    chunks.append((cols, result, result - self.abl[st.span][heads_t].unsqueeze(1)))
                    new_cur[st.index] = (st.cols, full)
                    dirty = sorted(dirty + cols)
                    qkv_new[l] = qkv
                else:
                    Mref, pat = self.M_one[st.index], self.pat_one[st.index]
                    r_kind = NodeKind.ATTN_SUM if st.kind == "post" else NodeKind.MLP_IN
                    r_node = self.graph.output_node if st.kind == "out" else Node(hook_name(r_kind, st.layer))
                    need = everything or None in ch or (pat and bool(receives_dirty(Mref))) or (not pat and bool(receives_dirty(st.base)))
                    if not need:
                        if st.kind == "out":
                            values = [self.ref_metric] * K
                            if keep_logits:
                                self._last_logits = self.ref_logits.unsqueeze(0).expand(K, *self.ref_logits.shape)
                        continue
                    mask = np.repeat(Mref[None, None], K, 1)
                    patched = np.full((1, K), pat)
                    for k, d in enumerate(variants):
                        if r_node in d:
                            mask[0, k] = self._row_mask(r_node, d[r_node], st.n_up)
                            patched[0, k] = bool(d[r_node])
                    at_pm = st.kind == "out"
                    A = (self.A_out if at_pm else self.A_post[st.layer] if st.kind == "post" else self.A_mlp[st.layer]).unsqueeze(0)
                    if patched.any():
                        inp = self._mix(mask, A, chunks, dirty, at_pm=at_pm)[0]  # [K, n]
                    if not patched.all():
                        nat = natural(st.index) if st.kind != "post" else heads_sum(st.layer)
                        if at_pm:
                            nat = nat.view(-1, B, P, D)[:, :, self.pm_t].reshape(nat.shape[0], -1)
                        if patched.any():
                            keep = self._to_device(patched[0]).unsqueeze(-1)
                            inp = torch.where(keep, inp, nat)
                        else:
                            inp = nat.expand(K, nat.shape[-1])
                    if st.kind in ("mlp", "post"):
                        f = w.mlp if st.kind == "mlp" else w.post_attention
                        out = f(st.layer, inp.reshape(K * B * P, D)).view(1, K, N)
                        col = st.cols[0]
                        chunks.append(([col], out, out - self.abl[col].view(1, 1, N)))
                        new_cur[st.index] = ([col], out)
                        dirty = sorted(dirty + [col])
                    else:
                        logits = w.unembed(inp.reshape(-1, D)).view(K, B, len(self.pm), -1)
                        values = torch.stack([self._read(logits[k]) for k in range(K)]).tolist()
                        if keep_logits or store:
                            self._last_logits = logits
            assert values is not None
            if store:
                self._store(variants[0], chunks, qkv_new, natural, values[0])
        finally:
            naturals.clear()
            new_cur.clear()
            chunks.clear()
            qkv_new.clear()
            allocator.trim_now_and_then(N * self.abl.element_size(), self.device.type)
        return values

    def _store(self, diff: dict[Node, frozenset], chunks: list, qkv_new: dict, natural, value: float) -> None:
        """Make the (single) variant just evaluated the reference state."""
        Xs = [natural(i)[0].clone() if i > 0 else self.X_ref[0] for i in range(len(self.stages))]
        for cols, cur, delta in chunks:
            self.delta[self._to_device(cols)] = delta[:, 0]
        self.delta_pm = self.delta.view(self.S, self.B, self.P, -1)[:, :, self.pm_t].reshape(self.S, -1)
        for l, qkv in qkv_new.items():
            self.qkv_ref[l] = qkv[:, :, 0].clone()
        self.X_ref = Xs
        for r, a in diff.items():
            st, row, is_direct = self.recv[r]
            if st.kind == "attn":
                if is_direct:
                    self.dir_attn[st.layer][row] = bool(a)
                else:
                    self.M_attn[st.layer][row] = self._row_mask(r, a, st.n_up)
                    self.pat_attn[st.layer][row] = bool(a)
            else:
                self.M_one[st.index] = self._row_mask(r, a, st.n_up)
                self.pat_one[st.index] = bool(a)
            self.ref_rows[r] = a
        self.ref_metric = value
        self.ref_logits = self._last_logits[0].clone()
        self._ref_items = frozenset((r, a) for r, a in self.ref_rows.items() if a)
