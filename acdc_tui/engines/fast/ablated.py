"""The ablated values the fast engine patches in: the very activations the plain engine patches (see
patching.py), kept per sender column, per q/k/v row and per single-input receiver."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from acdc_tui.core.architecture import NodeKind, hook_name
from acdc_tui.engines.fast.layout import QKV_INPUT_KINDS, QKV_KINDS, Layout
from acdc_tui.engines.fast.shape import Shape


@dataclass
class Ablated:
    """Ablated sender outputs [n_senders, N]; per layer the q/k/v inputs [3, H, N] and q/k/v [3, H, B*P*dh];
    the MLP and post-norm inputs [N] per layer; the output receiver's input at the read positions."""

    senders: torch.Tensor
    qkv_inputs: list[torch.Tensor]
    qkv: list[torch.Tensor]
    mlp_inputs: list[torch.Tensor]
    post_inputs: list[torch.Tensor]
    output: torch.Tensor


class AblatedCapture:
    """Receives the ablated activations while the capture runs, so that no copy of every hook's
    [batch, pos, heads, d_model] activation is ever held: sender outputs go straight into `senders`;
    a q/k/v input that is one residual stream for all heads keeps one head's copy."""

    def __init__(self, layout: Layout, shape: Shape, n_layers: int) -> None:
        self.layout, self.shape = layout, shape
        self.senders = torch.empty(layout.n_senders, shape.flat_size, dtype=shape.dtype, device=shape.device)
        self.qkv_input_hooks = {hook_name(kind, layer) for layer in range(n_layers) for kind in QKV_INPUT_KINDS}

    def keep(self, name: str, x: torch.Tensor):
        columns = self.layout.sender_columns.get(name)
        if columns is not None:
            for column, head in columns:
                self.senders[column] = self.shape.flat(x if head is None else x[:, :, head])
            return None
        if name in self.qkv_input_hooks and torch.equal(x, x[:, :, :1].expand_as(x)):
            return x[:, :, :1].clone()  # [batch, pos, 1, d_model]: the same for every head
        return x.clone()

    def qkv_inputs(self, captured: dict, layer: int, kv_heads: int) -> torch.Tensor:
        """Layer `layer`'s ablated q/k/v inputs per head, [3, H, N]: usually one residual stream, expanded."""
        shape = self.shape
        inputs = [captured.pop(hook_name(kind, layer)) for kind in QKV_INPUT_KINDS]
        if all(t.shape[2] == 1 and torch.equal(t, inputs[0]) for t in inputs):
            return shape.flat(inputs[0][:, :, 0]).reshape(1, 1, shape.flat_size).expand(3, shape.n_heads, shape.flat_size)
        heads = (shape.n_heads, kv_heads, kv_heads)
        return torch.stack([shape.per_head(t.expand(-1, -1, n, -1)) for t, n in zip(inputs, heads)])

    def finish(self, captured: dict, n_layers: int, kv_heads: int, output_name: str, positions: torch.Tensor) -> Ablated:
        """The captured activations, arranged (q/k/v inputs are popped from `captured` as they are arranged)."""
        shape, flat = self.shape, self.shape.flat_size
        layers = range(n_layers)
        qkv_inputs = [self.qkv_inputs(captured, layer, kv_heads) for layer in layers]
        qkv = [torch.stack([shape.per_head(captured[hook_name(kind, layer)]) for kind in QKV_KINDS]) for layer in layers]
        mlp_inputs = [captured[hook_name(NodeKind.MLP_IN, layer)].reshape(flat) for layer in layers] if self.layout.has_mlp else []
        post_inputs = [captured[hook_name(NodeKind.ATTN_SUM, layer)].reshape(flat) for layer in layers] if self.layout.post_norm else []
        output = captured[output_name][:, positions].reshape(-1)
        return Ablated(self.senders, qkv_inputs, qkv, mlp_inputs, post_inputs, output)
