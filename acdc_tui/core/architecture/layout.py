"""What every supported family shares: node kinds, their hook names, the order hooks fire in a
forward pass, and the per-layer layout of residual-stream writers and readers.

A layer's readers are its heads' q inputs (one per query head), k and v inputs (one per key/value
head: fewer than query heads with grouped-query attention) and its MLP input; its writers are its
heads' results and its MLP output. A writer feeds every reader of a later layer; within a layer the
heads feed the MLP only when attention and MLP run in sequence (not in parallel, as in GPT-NeoX).

With post-norms (Gemma-2, Gemma-3, OLMo-2: a norm between the sum of the heads and the residual
stream) a head is no longer a residual writer: the layer's heads feed one node, the post-norm's
input (`attn_sum`, Σ heads + b_O), whose normed output (`attn_out`) is the layer's attention writer;
`attn_sum -> attn_out` is a placeholder edge, as `mlp_in -> mlp_out` (see docs/postnorm-graph.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Mapping


class NodeKind(str, Enum):
    """The role of a graph node. A str enum: `kind == "output"` and tables keyed by the names work."""

    EMBED = "embed"
    POS_EMBED = "pos_embed"
    RESID_PRE = "resid_pre"  # the embedding as one input node (token + position)
    Q_INPUT = "q_input"
    K_INPUT = "k_input"
    V_INPUT = "v_input"
    Q = "q"
    K = "k"
    V = "v"
    RESULT = "result"
    ATTN_SUM = "attn_sum"  # post-norm families: the post-attention norm's input, Σ heads + b_O
    ATTN_OUT = "attn_out"  # post-norm families: the normed attention output, the layer's attention writer
    MLP_IN = "mlp_in"
    MLP_OUT = "mlp_out"
    OUTPUT = "output"

    def __str__(self) -> str:
        return self.value


INPUT_KINDS = (NodeKind.EMBED, NodeKind.POS_EMBED, NodeKind.RESID_PRE)
QKV_INPUT = {"q": NodeKind.Q_INPUT, "k": NodeKind.K_INPUT, "v": NodeKind.V_INPUT}
QKV = {"q": NodeKind.Q, "k": NodeKind.K, "v": NodeKind.V}
COMPUTED_FROM_INPUT = {QKV_INPUT[x]: QKV[x] for x in "qkv"}  # q_input -> q, k_input -> k, v_input -> v
# TransformerLens config keys that switch on hooks our model always has: accepted and ignored in its configs.
HOOK_SWITCHES = ("use_attn_result", "use_split_qkv_input", "use_hook_mlp_in", "use_attn_in", "use_hook_tokens")

HOOK_PREFIX = "hook_"  # every hook point's last name part starts with it
# Per-layer hook names (TransformerLens's, which the reference ACDC code and its circuits use).
_LAYER_HOOKS = {
    NodeKind.Q_INPUT: "blocks.{l}.hook_q_input",
    NodeKind.K_INPUT: "blocks.{l}.hook_k_input",
    NodeKind.V_INPUT: "blocks.{l}.hook_v_input",
    NodeKind.Q: "blocks.{l}.attn.hook_q",
    NodeKind.K: "blocks.{l}.attn.hook_k",
    NodeKind.V: "blocks.{l}.attn.hook_v",
    NodeKind.RESULT: "blocks.{l}.attn.hook_result",
    NodeKind.ATTN_SUM: "blocks.{l}.hook_attn_sum",
    NodeKind.ATTN_OUT: "blocks.{l}.hook_attn_out",
    NodeKind.MLP_IN: "blocks.{l}.hook_mlp_in",
    NodeKind.MLP_OUT: "blocks.{l}.hook_mlp_out",
}
_GLOBAL_HOOKS = {NodeKind.EMBED: "hook_embed", NodeKind.POS_EMBED: "hook_pos_embed", NodeKind.RESID_PRE: "blocks.0.hook_resid_pre"}
_SUFFIX_KIND = {name.rsplit(".", 1)[-1]: kind for kind, name in _LAYER_HOOKS.items()}
_SUFFIX_KIND.update({"hook_embed": NodeKind.EMBED, "hook_pos_embed": NodeKind.POS_EMBED, "hook_resid_pre": NodeKind.RESID_PRE, "hook_resid_post": NodeKind.OUTPUT})

# Within a block, every family's forward pass fires the graph's hooks in this order (checked
# against a real forward pass by the tests); parallel blocks fire attention hooks before the MLP's too.
FIRING_ORDER = (
    NodeKind.Q_INPUT, NodeKind.K_INPUT, NodeKind.V_INPUT, NodeKind.Q, NodeKind.K, NodeKind.V,
    NodeKind.RESULT, NodeKind.ATTN_SUM, NodeKind.ATTN_OUT, NodeKind.MLP_IN, NodeKind.MLP_OUT,
)
POST_NORM_KINDS = (NodeKind.ATTN_SUM, NodeKind.ATTN_OUT)  # in the graph only with post-norms

# The explorer's ordering, derived from the firing order: DAG rows per layer (q/k/v inputs, q/k/v,
# results, MLP in, MLP out), and the side bar's order inside a layer (per head: each input before
# what it computes, then the result; then the MLP).
# The post-norm's nodes share rows with results (its input) and the MLP input (its output).
DAG_ROWS = {k: row for row, group in enumerate([FIRING_ORDER[0:3], FIRING_ORDER[3:6], FIRING_ORDER[6:8], FIRING_ORDER[8:10], FIRING_ORDER[10:11]]) for k in group}
TREE_ORDER = {
    **{k: i for i, k in enumerate(k for pair in zip(FIRING_ORDER[0:3], FIRING_ORDER[3:6]) for k in pair)},
    NodeKind.RESULT: 6, NodeKind.ATTN_SUM: 6.25, NodeKind.ATTN_OUT: 6.5, NodeKind.MLP_IN: 7, NodeKind.MLP_OUT: 8,
    NodeKind.EMBED: 0, NodeKind.POS_EMBED: 1, NodeKind.RESID_PRE: 0,
}


@dataclass(frozen=True)
class Architecture:
    """The parts of a model's shape that fix its ACDC graph (the graph's `GraphSpec`)."""

    n_layers: int
    n_heads: int
    attn_only: bool = False
    use_pos_embed: bool = False  # separate `hook_embed`/`hook_pos_embed` input nodes (tracr tasks)
    n_kv_heads: int | None = None  # key/value heads (grouped-query attention); None: one per query head
    parallel_attn_mlp: bool = False  # attention and MLP read the same residual stream (GPT-NeoX, GPT-J)
    family: str = "gpt2"
    post_norm: bool = False  # a norm between the sum of the heads and the residual stream (Gemma-2/3, OLMo-2)

    @property
    def kv_heads(self) -> int:
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    @property
    def group_size(self) -> int:
        """Query heads per key/value head."""
        return self.n_heads // self.kv_heads

    @classmethod
    def from_config(cls, cfg: Any, use_pos_embed: bool = False) -> "Architecture":
        """From our model's config, a HookedTransformerConfig-style dict, or a circuit file's model config."""
        get = cfg.get if isinstance(cfg, Mapping) else lambda k, d=None: getattr(cfg, k, d)
        kv = get("n_key_value_heads", None)
        n_heads = int(get("n_heads"))
        return cls(
            int(get("n_layers")),
            n_heads,
            bool(get("attn_only", False)),
            use_pos_embed,
            None if kv in (None, n_heads) else int(kv),
            bool(get("parallel_attn_mlp", False)),
            str(get("family", None) or "gpt2"),
            bool(get("post_norms", False)),
        )

    def input_kinds(self) -> tuple[NodeKind, ...]:
        return (NodeKind.EMBED, NodeKind.POS_EMBED) if self.use_pos_embed else (NodeKind.RESID_PRE,)


def hook_name(kind: NodeKind, layer: int | None = None, n_layers: int | None = None) -> str:
    """The hook point a node of `kind` lives at (`n_layers` names the output's block)."""
    if kind is NodeKind.OUTPUT:
        return f"blocks.{n_layers - 1}.hook_resid_post"
    if kind in _GLOBAL_HOOKS:
        return _GLOBAL_HOOKS[kind]
    return _LAYER_HOOKS[kind].format(l=layer)


def kind_of(name: str) -> NodeKind | None:
    """The kind of a graph hook name (None: not a graph hook)."""
    return _SUFFIX_KIND.get(name.rsplit(".", 1)[-1])


def firing_rank(arch: Architecture) -> dict[str, int]:
    """Position of each graph hook name in a forward pass."""
    names = [hook_name(k) for k in (NodeKind.EMBED, NodeKind.POS_EMBED, NodeKind.RESID_PRE)]
    for layer in range(arch.n_layers):
        names += [
            hook_name(k, layer) for k in FIRING_ORDER
            if not (arch.attn_only and k in (NodeKind.MLP_IN, NodeKind.MLP_OUT)) and (arch.post_norm or k not in POST_NORM_KINDS)
        ]
    names.append(hook_name(NodeKind.OUTPUT, n_layers=arch.n_layers))
    return {n: i for i, n in enumerate(names)}


def readers(arch: Architecture, layer: int) -> list[tuple[NodeKind, int | None]]:
    """(kind, head) of the layer's residual-stream readers: q inputs per query head, k/v inputs
    per key/value head, then the MLP input."""
    out: list[tuple[NodeKind, int | None]] = [(NodeKind.Q_INPUT, h) for h in range(arch.n_heads)]
    out += [(k, j) for k in (NodeKind.K_INPUT, NodeKind.V_INPUT) for j in range(arch.kv_heads)]
    if not arch.attn_only:
        out.append((NodeKind.MLP_IN, None))
    return out


def writers(arch: Architecture, layer: int) -> list[tuple[NodeKind, int | None]]:
    """(kind, head) of what the layer adds to the residual stream: head results (with post-norms, the
    normed attention output instead), then the MLP output."""
    out: list[tuple[NodeKind, int | None]] = [(NodeKind.ATTN_OUT, None)] if arch.post_norm else [(NodeKind.RESULT, h) for h in range(arch.n_heads)]
    if not arch.attn_only:
        out.append((NodeKind.MLP_OUT, None))
    return out


def feeds(arch: Architecture, writer: NodeKind, writer_layer: int | None, reader: NodeKind, reader_layer: int | None) -> bool:
    """Whether a writer is summed into a reader's input (inputs have layer None, the output too). With
    post-norms a layer's heads are summed into its post-norm's input only, and that norm's output is
    the layer's attention writer."""
    if reader is NodeKind.ATTN_SUM:
        return writer is NodeKind.RESULT and writer_layer == reader_layer
    if writer is NodeKind.RESULT and arch.post_norm:
        return False
    if writer_layer is None or reader is NodeKind.OUTPUT:
        return True
    if writer_layer != reader_layer:
        return writer_layer < reader_layer
    return writer in (NodeKind.RESULT, NodeKind.ATTN_OUT) and reader is NodeKind.MLP_IN and not arch.parallel_attn_mlp


def edge_count(arch: Architecture) -> int:
    """Tested edges (ADDITION + DIRECT_COMPUTATION), in closed form; the graph's count must equal it.

    With L layers, H query heads, G key/value heads, M = 1 with MLPs (else 0), I input nodes and
    W = H + M writers per layer: layer l has H + 2G head readers, each fed by the I inputs and
    the l·W writers below, plus (M) an MLP input fed by those and, unless attention and MLP run
    in parallel, by the layer's own H heads; the output is fed by all I + L·W writers; and each of
    the H + 2G q/k/v has one direct edge from its input:

        Σ_l [(H + 2G)(I + l·W) + M(I + l·W + H·[sequential])] + (I + L·W) + L(H + 2G)

    With post-norms (P = 1) a layer writes one attention output instead of H results (W = 1 + M), its
    MLP input (sequential) is fed by that one output, and each layer's post-norm input is fed by its
    H heads (L·H more edges):

        Σ_l [(H + 2G)(I + l·W) + M(I + l·W + A·[sequential])] + (I + L·W) + L(H + 2G) + P·L·H,
        A = 1 if P else H
    """
    L, H, G = arch.n_layers, arch.n_heads, arch.kv_heads
    M, I = (0 if arch.attn_only else 1), len(arch.input_kinds())
    P = 1 if arch.post_norm else 0
    A = 1 if P else H  # attention writers per layer
    W, seq = A + M, (0 if arch.parallel_attn_mlp else 1)
    fed = L * I + W * L * (L - 1) // 2  # Σ_l (I + l·W): no loop, so a file claiming 10^12 layers is counted at once
    return (H + 2 * G) * fed + M * (fed + L * A * seq) + (I + L * W) + L * (H + 2 * G) + P * L * H
