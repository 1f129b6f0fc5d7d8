"""One incremental forward pass of the fast engine: K variants (absent rows differing from the reference
state) evaluated together, recomputing only the stages that read something that changed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from acdc_tui.core.graph import Node
from acdc_tui.engines.fast.layout import Stage, StageKind
from acdc_tui.engines.fast.parts import Parts
from acdc_tui.engines.fast.reference import ReferenceState

Variant = dict[Node, frozenset]


@dataclass(frozen=True)
class Rows:
    """The q/k/v rows a pass recomputes in one layer: q/k/v index (0, 1, 2) and head per row, on the
    host (numpy) and on the device."""

    qkv: np.ndarray
    head: np.ndarray
    qkv_t: torch.Tensor
    head_t: torch.Tensor


class ForwardPass:
    """The pass's working state: recomputed senders (`chunks`: columns, delta [n, K, N]), their columns
    (`dirty`), each recomputed stage's output summed over its senders (`new_sums`, [K, N]: all the
    residual stream and a post-attention norm read of it), the natural residual stream per stage
    (`naturals`) and each recomputed layer's q/k/v. All cleared by `run`: a pass keeps no more than one
    delta per recomputed sender and a few [K, N] tensors per stage (docs/cost.md)."""

    def __init__(self, parts: Parts, reference: ReferenceState, variants: list[Variant], flags: tuple[bool, bool, bool], logits: torch.Tensor | None) -> None:
        self.parts, self.reference, self.variants = parts, reference, variants
        self.store_result, self.everything, self.keep_logits = flags  # store, everything, keep_logits
        self.layout, self.shape, self.weights, self.ablated = parts.layout, parts.shape, parts.weights, parts.ablated
        self.logits = logits  # the latest logits at the read positions (the engine's, until this pass sets them)
        self.n_variants = len(variants)
        self.changed: dict[int, dict] = {}  # stage index -> {row or None: True}
        for variant in variants:
            for receiver in variant:
                place = self.layout.receivers[receiver]
                self.changed.setdefault(place.stage.index, {})[place.row] = True
        self.chunks: list = []
        self.dirty: list[int] = []
        self.new_sums: dict[int, torch.Tensor] = {}  # stage index -> output summed over its senders [K, N]
        self.naturals: dict[int, torch.Tensor] = {}
        self.new_qkv: dict[int, torch.Tensor] = {}
        self.values: list[float] | None = None

    def run(self) -> list[float]:
        """Metric of each variant. With `store` (one variant) the reference state becomes that variant's."""
        # The working state holds activation-sized tensors per layer: cleared here, whatever happens, so
        # that no earlier forward's tensors are alive during the next one (docs/cost.md).
        try:
            for stage in self.layout.stages:
                if stage.kind is StageKind.ATTN:
                    self.attention(stage)
                elif stage.kind is StageKind.OUT:
                    self.output(stage)
                else:
                    self.single(stage)
            assert self.values is not None
            if self.store_result:
                self.store(self.variants[0], self.values[0])
            return self.values
        finally:
            self.naturals.clear()
            self.new_sums.clear()
            self.chunks.clear()
            self.new_qkv.clear()

    # ---------------------------------------------------------------- what changed

    def dirty_below(self, n_below: int) -> list[int]:
        return [column for column in self.dirty if column < n_below]

    def receives_dirty(self, mask_rows: np.ndarray) -> np.ndarray:
        below = self.dirty_below(mask_rows.shape[-1])
        return mask_rows[..., below].any(-1) if below else np.zeros(mask_rows.shape[:-1], dtype=bool)

    def stage_sum(self, stage: Stage, n_variants: int) -> torch.Tensor:
        """The stage's sender outputs as they are now, summed over its senders (a layer's heads), [K or
        n_variants, N]. A recomputed stage's sum was taken when it was recomputed, from the same tensor."""
        if stage.index in self.new_sums:
            return self.new_sums[stage.index]
        outputs = (self.ablated.senders[stage.span] + self.reference.deltas[stage.span]).unsqueeze(1)
        outputs = outputs.expand(len(stage.columns), n_variants, self.shape.flat_size)
        return outputs.sum(0) if stage.kind is StageKind.ATTN else outputs[0]

    def attention_output(self, layer: int, heads_sum: torch.Tensor) -> torch.Tensor:
        """A layer's heads, summed, plus the output bias, [K or 1, N]."""
        shape = self.shape
        return heads_sum + self.weights.b_O[layer].reshape(1, shape.d_model).expand(shape.rows, shape.d_model).reshape(shape.flat_size)

    def natural(self, index: int) -> torch.Tensor:
        """The natural residual stream at stage `index`'s input, [K or 1, N]: stage index-1's plus what the
        stages writing columns n_below(index-1)..n_below(index) add (with attention output biases)."""
        if index in self.naturals:
            return self.naturals[index]
        stages, reference = self.layout.stages, self.reference
        if index == 0 or (reference.naturals[index] is not None and not self.dirty_below(stages[index].n_below)):
            stream = reference.naturals[index].unsqueeze(0)
        else:
            stream = self.natural(index - 1)
            low, high = stages[index - 1].n_below, stages[index].n_below
            for stage in stages:
                if not stage.columns or not low <= stage.columns[0] < high:
                    continue
                if stage.kind is StageKind.ATTN:
                    if not self.weights.post_norm:  # with post-norms the heads reach the residual stream through their norm
                        stream = stream + self.attention_output(stage.layer, self.stage_sum(stage, self.n_variants))
                else:
                    stream = stream + self.stage_sum(stage, self.n_variants)
        self.naturals[index] = stream
        return stream

    def mix(self, mask: np.ndarray, ablated: torch.Tensor, at_positions: bool = False) -> torch.Tensor:
        """`ablated + sum over present senders of delta` for rows x variants: mask [R, K, n_below] -> [R, K, n]."""
        n_rows, n_variants, n_below = mask.shape
        shape = self.shape
        deltas = self.reference.deltas_at_positions if at_positions else self.reference.deltas
        reference_mask = mask.copy()
        dirty = self.dirty_below(n_below)  # parallel blocks: a layer's heads are not below its MLP
        if dirty:
            reference_mask[..., dirty] = False
        mask_on_device = shape.to_device(reference_mask.reshape(n_rows * n_variants, n_below), shape.dtype)
        out = (mask_on_device @ deltas[:n_below]).view(n_rows, n_variants, -1)
        for columns, delta in self.chunks:
            keep = [i for i, column in enumerate(columns) if column < n_below]
            if not keep:
                continue
            if len(keep) < len(columns):
                columns, delta = [columns[i] for i in keep], delta[keep]
            if at_positions:
                n = delta.shape[0]
                delta = delta.view(n, n_variants, shape.batch, shape.n_positions, -1)[:, :, :, self.parts.read_positions].reshape(n, n_variants, -1)
            chunk_mask = shape.to_device(np.ascontiguousarray(mask[..., columns].transpose(1, 0, 2)), shape.dtype)  # [K, R, n]
            out = out + torch.bmm(chunk_mask, delta.transpose(0, 1)).transpose(0, 1)
        return ablated.unsqueeze(1) + out

    def record(self, stage: Stage, columns: list[int], delta: torch.Tensor, summed: torch.Tensor) -> None:
        """Recomputed senders: their deltas for the stages downstream, the stage's sum for the natural
        residual stream. Their outputs themselves are not kept past their stage."""
        self.chunks.append((columns, delta))
        self.new_sums[stage.index] = summed
        self.dirty = sorted(self.dirty + columns)

    # ---------------------------------------------------------------- attention

    def attention_rows(self, stage: Stage) -> np.ndarray:
        """Which q/k/v rows [3, heads] of the layer to recompute."""
        rows = self.reference.attention[stage.layer]
        if self.everything:
            return self.parts.valid_rows.copy()
        need = ((rows.patched & self.receives_dirty(rows.masks)) | (~rows.patched & bool(self.receives_dirty(stage.reads)))) & self.parts.valid_rows
        for row in self.changed.get(stage.index, {}):
            need[row] = True
        return need

    def attention_masks(self, stage: Stage, qkv_index: np.ndarray, head_index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row and variant: the sender mask, whether the row is patched, whether it is ablated directly."""
        rows, n_variants = self.reference.attention[stage.layer], self.n_variants
        position = {(int(x), int(h)): i for i, (x, h) in enumerate(zip(qkv_index, head_index))}
        mask = np.repeat(rows.masks[qkv_index, head_index][:, None], n_variants, 1)
        patched = np.repeat(rows.patched[qkv_index, head_index][:, None], n_variants, 1)
        direct = np.repeat(rows.direct[qkv_index, head_index][:, None], n_variants, 1)
        for k, variant in enumerate(self.variants):
            for receiver, absent in variant.items():
                place = self.layout.receivers[receiver]
                if place.stage is not stage:
                    continue
                i = position[place.row]
                if place.direct:
                    direct[i, k] = bool(absent)
                else:
                    mask[i, k] = self.layout.row_mask(receiver, absent)
                    patched[i, k] = bool(absent)
        return mask, patched, direct

    def attention(self, stage: Stage) -> None:
        need = self.attention_rows(stage)
        if not need.any():
            return
        qkv_index, head_index = np.nonzero(need)
        mask, patched, direct = self.attention_masks(stage, qkv_index, head_index)
        n_rows, n_variants, flat = len(qkv_index), self.n_variants, self.shape.flat_size
        rows = Rows(qkv_index, head_index, self.shape.to_device(qkv_index), self.shape.to_device(head_index))
        if not patched.any():  # every row reads the natural residual stream (the clean run, say)
            inputs = self.natural(stage.index).unsqueeze(0).expand(n_rows, n_variants, flat)
        else:
            inputs = self.mix(mask, self.ablated.qkv_inputs[stage.layer][rows.qkv_t, rows.head_t])
        if patched.any() and not patched.all():
            keep = self.shape.to_device(patched).unsqueeze(-1)
            inputs = torch.where(keep, inputs, self.natural(stage.index).unsqueeze(0))
        self.attend(stage, self.project(stage.layer, inputs, rows, direct), rows)

    def project(self, layer: int, inputs: torch.Tensor, rows: Rows, direct: np.ndarray) -> torch.Tensor:
        """The rows' q/k/v from their inputs, [R, K, B*P*dh]; directly ablated rows take the ablated value."""
        weights, shape = self.weights, self.shape
        n_rows = len(rows.qkv)
        normed = weights.normalize(inputs.reshape(n_rows, self.n_variants * shape.rows, shape.d_model), weights.ln1[layer])
        if self.parts.pos_qk is not None:  # shortformer positions join q and k (not v) after the norm
            qk = shape.to_device(rows.qkv < 2).reshape(n_rows, 1, 1)
            normed = normed + qk * self.parts.pos_qk.repeat(self.n_variants, 1).unsqueeze(0)
        projected = torch.bmm(normed, weights.W_qkv[layer][rows.qkv_t, rows.head_t]) + weights.b_qkv[layer][rows.qkv_t, rows.head_t].unsqueeze(1)  # [R, K*B*P, dh]
        if weights.qk_full is not None:
            projected = weights.full_width_qk(layer, normed, rows.qkv, rows.head, projected)
        projected = weights.qk_normalize(layer, projected, rows.qkv_t)  # Qwen3: q/k norms inside the head's q/k computation
        projected = projected.view(n_rows, self.n_variants, shape.rows * shape.d_head)
        if direct.any():
            ablated = shape.to_device(direct).unsqueeze(-1)
            projected = torch.where(ablated, self.ablated.qkv[layer][rows.qkv_t, rows.head_t].unsqueeze(1), projected)
        return projected

    def attend(self, stage: Stage, projected: torch.Tensor, rows: Rows) -> None:
        """Attention for the heads whose q, k or v changed; their results become recomputed senders."""
        weights, shape, layer, n_variants = self.weights, self.shape, stage.layer, self.n_variants
        group = self.parts.group  # query heads per key/value head: a k/v row changes its whole group
        heads = sorted({int(h) for x, h in zip(rows.qkv, rows.head) if x == 0} | {int(j) * group + i for x, j in zip(rows.qkv, rows.head) if x > 0 for i in range(group)})
        n_heads = len(heads)
        heads_t = shape.to_device(heads)
        qkv = self.reference.qkv[layer].unsqueeze(2).expand(3, shape.n_heads, n_variants, shape.rows * shape.d_head).clone()
        qkv[rows.qkv_t, rows.head_t] = projected
        kv_t = heads_t // group
        q, k, v = (t.reshape(n_heads * n_variants * shape.batch, shape.n_positions, shape.d_head) for t in (qkv[0, heads_t], qkv[1, kv_t], qkv[2, kv_t]))
        z = weights.attention(layer, q, k, v).reshape(n_heads, n_variants * shape.rows, shape.d_head)
        result = torch.bmm(z, weights.W_O[layer][heads_t]).view(n_heads, n_variants, shape.flat_size)
        columns = [stage.columns[h] for h in heads]
        if n_heads < shape.n_heads:  # the natural residual stream needs every head: the others as they are
            full = (self.ablated.senders[stage.span] + self.reference.deltas[stage.span]).unsqueeze(1).expand(shape.n_heads, n_variants, shape.flat_size).clone()
            full[heads_t] = result
        else:
            full = result
        self.record(stage, columns, result - self.ablated.senders[stage.span][heads_t].unsqueeze(1), full.sum(0))
        self.new_qkv[layer] = qkv

    # ---------------------------------------------------------------- the post-norm, the MLP and the output

    def single_ablated(self, stage: Stage) -> torch.Tensor:
        if stage.kind is StageKind.OUT:
            return self.ablated.output
        return (self.ablated.post_inputs if stage.kind is StageKind.POST else self.ablated.mlp_inputs)[stage.layer]

    def single_needed(self, stage: Stage) -> bool:
        mask, patched = self.reference.single_masks[stage.index], self.reference.single_patched[stage.index]
        return (
            self.everything
            or None in self.changed.get(stage.index, {})
            or (patched and bool(self.receives_dirty(mask)))
            or (not patched and bool(self.receives_dirty(stage.reads)))
        )

    def single_input(self, stage: Stage) -> torch.Tensor:
        """The stage's input per variant, [K, n] (n: N, or the read positions' part for the output)."""
        shape, n_variants, receiver = self.shape, self.n_variants, self.layout.single_receiver.get(stage.index)
        mask = np.repeat(self.reference.single_masks[stage.index][None, None], n_variants, 1)
        patched = np.full((1, n_variants), self.reference.single_patched[stage.index])
        for k, variant in enumerate(self.variants):
            if receiver in variant:
                mask[0, k] = self.layout.row_mask(receiver, variant[receiver])
                patched[0, k] = bool(variant[receiver])
        at_positions = stage.kind is StageKind.OUT
        if patched.any():
            inputs = self.mix(mask, self.single_ablated(stage).unsqueeze(0), at_positions=at_positions)[0]  # [K, n]
        if not patched.all():
            if stage.kind is StageKind.POST:  # the post-attention norm's unpatched input: the layer's heads as they are now
                natural = self.attention_output(stage.layer, self.stage_sum(self.layout.attn_stage[stage.layer], 1))
            else:
                natural = self.natural(stage.index)
            if at_positions:
                natural = natural.view(-1, shape.batch, shape.n_positions, shape.d_model)[:, :, self.parts.read_positions].reshape(natural.shape[0], -1)
            if patched.any():
                keep = shape.to_device(patched[0]).unsqueeze(-1)
                inputs = torch.where(keep, inputs, natural)
            else:
                inputs = natural.expand(n_variants, natural.shape[-1])
        return inputs

    def single(self, stage: Stage) -> None:
        """A post-attention norm or an MLP: its output becomes a recomputed sender."""
        if not self.single_needed(stage):
            return
        shape, n_variants = self.shape, self.n_variants
        inputs = self.single_input(stage)
        function = self.weights.mlp if stage.kind is StageKind.MLP else self.weights.post_attention
        out = function(stage.layer, inputs.reshape(n_variants * shape.rows, shape.d_model)).view(1, n_variants, shape.flat_size)
        column = stage.columns[0]
        self.record(stage, [column], out - self.ablated.senders[column].view(1, 1, shape.flat_size), out[0])

    def output(self, stage: Stage) -> None:
        """The unembedding at the read positions, and the metric on each variant's logits."""
        n_variants = self.n_variants
        if not self.single_needed(stage):
            self.values = [self.reference.metric] * n_variants
            if self.keep_logits:
                self.logits = self.reference.logits.unsqueeze(0).expand(n_variants, *self.reference.logits.shape)
            return
        inputs = self.single_input(stage)
        logits = self.weights.unembed(inputs.reshape(-1, self.shape.d_model)).view(n_variants, self.shape.batch, len(self.parts.read_positions), -1)
        self.values = torch.stack([self.parts.read(logits[k]) for k in range(n_variants)]).tolist()
        if self.keep_logits or self.store_result:
            self.logits = logits

    # ---------------------------------------------------------------- a new reference

    def store(self, diff: Variant, value: float) -> None:
        """Make the (single) variant just evaluated the reference state."""
        reference, layout = self.reference, self.layout
        naturals = [self.natural(i)[0].clone() if i > 0 else reference.naturals[0] for i in range(len(layout.stages))]
        for columns, delta in self.chunks:
            reference.deltas[self.shape.to_device(columns)] = delta[:, 0]
        reference.deltas_at_positions = self.parts.at_positions(reference.deltas)
        for layer, qkv in self.new_qkv.items():
            reference.qkv[layer] = qkv[:, :, 0].clone()
        reference.naturals = naturals
        for receiver, absent in diff.items():
            reference.set_row(receiver, absent, layout)
        reference.metric = value
        reference.logits = self.logits[0].clone()
        reference.items = frozenset((r, a) for r, a in reference.rows.items() if a)
