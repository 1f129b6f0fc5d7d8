"""The reference state: every activation of one absent-edge map (first the clean run), which an
evaluation recomputes only where it differs."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from acdc_tui.core.graph import Absent, Node
from acdc_tui.engines.fast.layout import Layout, StageKind


@dataclass
class AttentionRows:
    """A layer's q/k/v rows [3, heads] in the reference state: which senders each input row reads
    (`masks`, [3, heads, n_below]), whether the row is patched at all, and whether its q/k/v output is
    replaced by the ablated value (`direct`)."""

    masks: np.ndarray
    patched: np.ndarray
    direct: np.ndarray


@dataclass
class ReferenceState:
    """Absent rows per receiver; per stage its masks; each sender's output as `current - ablated`
    (`deltas`, [n_senders, N], and at the read positions); each layer's q/k/v; the natural residual
    stream at each stage's input; the metric and the logits at the read positions."""

    rows: dict[Node, frozenset]
    attention: list[AttentionRows]
    single_masks: dict[int, np.ndarray]  # stage index -> mask, for the post-norm, MLP and output stages
    single_patched: dict[int, bool]
    deltas: torch.Tensor
    deltas_at_positions: torch.Tensor
    qkv: list[torch.Tensor]
    naturals: list[torch.Tensor | None]
    metric: float = float("nan")
    logits: torch.Tensor | None = None
    items: frozenset = field(default_factory=frozenset)  # the non-empty rows, as (receiver, senders)

    def diff(self, absent: Absent) -> dict[Node, frozenset]:
        """Receivers whose absent senders differ from the reference state's, with their absent sets."""
        out = {}
        for receiver, ref in self.rows.items():
            now = absent.get(receiver)
            if not now:
                if ref:
                    out[receiver] = frozenset()
            elif now != ref:
                out[receiver] = frozenset(now)
        return out

    def key(self, diff: dict[Node, frozenset]) -> frozenset:
        """The whole absent-edge map (non-empty rows), as a hashable key, from the reference's and a diff."""
        if not diff:
            return self.items
        return self.items.difference((r, self.rows[r]) for r in diff).union((r, a) for r, a in diff.items() if a)

    def set_row(self, receiver: Node, absent: frozenset, layout: Layout) -> None:
        """The receiver's absent senders become `absent`, with its stage's masks."""
        place = layout.receivers[receiver]
        if place.stage.kind is StageKind.ATTN:
            rows = self.attention[place.stage.layer]
            if place.direct:
                rows.direct[place.row] = bool(absent)
            else:
                rows.masks[place.row] = layout.row_mask(receiver, absent)
                rows.patched[place.row] = bool(absent)
        else:
            self.single_masks[place.stage.index] = layout.row_mask(receiver, absent)
            self.single_patched[place.stage.index] = bool(absent)
        self.rows[receiver] = absent
