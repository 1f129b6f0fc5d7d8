"""How each model family is wired, as ACDC sees it: node kinds, hook names, firing order, which
writers feed which readers, and what is supported. Pure (no torch): the graph, both engines and the
explorer derive from it; acdc_tui.models turns a loaded model into a description.

One file per family (found by families.py: every module here with MODEL_TYPES) turns a Hugging Face config into our own model's
config and says what it cannot model; `layout` holds what every family shares.
"""

from acdc_tui.core.architecture.families import FAMILIES, describe_hf_config, family_of
from acdc_tui.core.architecture.layout import (
    COMPUTED_FROM_INPUT,
    DAG_ROWS,
    FIRING_ORDER,
    HOOK_PREFIX,
    HOOK_SWITCHES,
    INPUT_KINDS,
    TREE_ORDER,
    Architecture,
    NodeKind,
    QKV,
    QKV_INPUT,
    edge_count,
    feeds,
    firing_rank,
    hook_name,
    kind_of,
    readers,
    writers,
)

__all__ = [
    "COMPUTED_FROM_INPUT", "HOOK_PREFIX", "HOOK_SWITCHES", "QKV", "QKV_INPUT", "DAG_ROWS", "TREE_ORDER", "FAMILIES", "FIRING_ORDER", "INPUT_KINDS", "Architecture", "NodeKind", "describe_hf_config", "edge_count",
    "family_of", "feeds", "firing_rank", "hook_name", "kind_of", "readers", "writers",
]
