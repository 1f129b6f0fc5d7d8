"""Write the canonical (ground-truth) circuits of the hub tasks: `python -m tasks.build.canonical`.

Each is rebuilt from the definition in the ACDC reference implementation
(ArthurConmy/Automatic-Circuit-Discovery: get_ioi_true_edges, get_greaterthan_true_edges,
get_docstring_subgraph_true_edges) on our graph of the model's shape, and written as
tasks/hub/<task>/canonical_circuit.json in the format of tasks/tracr/*/canonical_circuit.json:
[sender hook, sender head, receiver hook, receiver head] per edge, placeholders included exactly
where the reference marks them present. No weights are needed.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from acdc_tui.core.graph import GraphSpec, Node, build_graph

HUB_DIR = Path(__file__).parents[1] / "hub"
GPT2 = GraphSpec(n_layers=12, n_heads=12, attn_only=False)
ATTN_ONLY_4L = GraphSpec(n_layers=4, n_heads=8, attn_only=True)

RESID_PRE, OUT = Node("blocks.0.hook_resid_pre"), Node("blocks.11.hook_resid_post")


def result(l, h):
    return Node(f"blocks.{l}.attn.hook_result", h)


def qkv(l, h, x):
    return Node(f"blocks.{l}.attn.hook_{x}", h)


def qkv_in(l, h, x):
    return Node(f"blocks.{l}.hook_{x}_input", h)


def mlp_in(l):
    return Node(f"blocks.{l}.hook_mlp_in")


def mlp_out(l):
    return Node(f"blocks.{l}.hook_mlp_out")


class EdgeSet:
    """Edges of one graph, each present or not; setting a missing edge is an error."""

    def __init__(self, spec: GraphSpec, present: bool) -> None:
        self.graph = build_graph(spec)
        self.present = {e.key: present for e in self.graph.edges}

    def set(self, sender: Node, receiver: Node, value: bool) -> None:
        if (sender, receiver) not in self.present:
            raise KeyError(f"no edge {sender} -> {receiver} in the graph")
        self.present[(sender, receiver)] = value

    def drop_node(self, node: Node) -> None:
        dag = self.graph.dag
        for key in [*dag.in_edges(node), *dag.out_edges(node)]:
            self.present[key] = False

    def rows(self) -> list[list]:
        return [[s.name, s.head, r.name, r.head] for (s, r), p in self.present.items() if p]


IOI_CIRCUIT = {
    "name mover": [(9, 9), (10, 0), (9, 6)],
    "backup name mover": [(10, 10), (10, 6), (10, 2), (10, 1), (11, 2), (9, 7), (9, 0), (11, 9)],
    "negative": [(10, 7), (11, 10)],
    "s2 inhibition": [(7, 3), (7, 9), (8, 6), (8, 10)],
    "induction": [(5, 5), (5, 8), (5, 9), (6, 9)],
    "duplicate token": [(0, 1), (0, 10), (3, 0)],
    "previous token": [(2, 2), (4, 11)],
}
IOI_CONNECTIONS = [  # (from group or INPUT, to group or OUTPUT, which of q/k/v inputs)
    ("INPUT", "previous token", "qkv"),
    ("INPUT", "duplicate token", "qkv"),
    ("INPUT", "s2 inhibition", "q"),
    ("INPUT", "negative", "kv"),
    ("INPUT", "name mover", "kv"),
    ("INPUT", "backup name mover", "kv"),
    ("previous token", "induction", "kv"),
    ("induction", "s2 inhibition", "kv"),
    ("duplicate token", "s2 inhibition", "kv"),
    ("s2 inhibition", "negative", "q"),
    ("s2 inhibition", "name mover", "q"),
    ("s2 inhibition", "backup name mover", "q"),
    ("negative", "OUTPUT", ""),
    ("name mover", "OUTPUT", ""),
    ("backup name mover", "OUTPUT", ""),
]


def ioi_edges() -> list[list]:
    """Start from the full graph; drop every head outside the circuit (its q/k/v, their inputs,
    its output); cut the circuit heads' inputs from the embedding and from all earlier heads and
    their outputs to the logits (MLP edges stay); then add the Wang et al. connections, each
    only from an earlier layer (the embedding counts as layer -1, MLP l as layer l)."""
    es = EdgeSet(GPT2, present=True)
    heads = [lh for group in IOI_CIRCUIT.values() for lh in group]
    for l in range(12):
        for h in range(12):
            if (l, h) not in heads:
                for x in "qkv":
                    es.drop_node(qkv(l, h, x))
                    es.drop_node(qkv_in(l, h, x))
                es.drop_node(result(l, h))
    for l, h in heads:
        for x in "qkv":
            es.set(RESID_PRE, qkv_in(l, h, x), False)
            for l2 in range(l):
                for h2 in range(12):
                    es.set(result(l2, h2), qkv_in(l, h, x), False)
        es.set(result(l, h), OUT, False)
    for src, dst, letters in IOI_CONNECTIONS:
        senders = [(-1, RESID_PRE)] + [(l, mlp_out(l)) for l in range(12)] if src == "INPUT" else [(l, result(l, h)) for l, h in IOI_CIRCUIT[src]]
        receivers = [(13, OUT)] + [(l, mlp_in(l)) for l in range(12)] if dst == "OUTPUT" else [(l, qkv_in(l, h, x)) for l, h in IOI_CIRCUIT[dst] for x in letters]
        for ls, s in senders:
            for lr, r in receivers:
                if lr > ls:
                    es.set(s, r, True)
    return es.rows()


GT_CIRCUIT = {
    "0305": [(0, 3), (0, 5)],
    "01": [(0, 1)],
    "MEARLY": [(0, None), (1, None), (2, None), (3, None)],
    "AMID": [(5, 5), (6, 1), (6, 9), (7, 10), (8, 11), (9, 1)],
    "MLATE": [(8, None), (9, None), (10, None), (11, None)],
}
GT_PAIRS = [("01", "MEARLY"), ("01", "AMID"), ("0305", "AMID"), ("MEARLY", "AMID"), ("AMID", "MLATE")]


def _gt_outputs(l, h):
    return [mlp_out(l)] if h is None else [result(l, h)]


def _gt_inputs(l, h):
    return [mlp_in(l)] if h is None else [qkv_in(l, h, x) for x in "qkv"]


def greaterthan_edges() -> list[list]:
    """Hanna et al.'s circuit as the reference encodes it: starting from no edges, embedding ->
    early components, AMID heads and late MLPs -> logits, MLPs within a group chained, the group
    pairs connected (a head may feed the MLP of its own layer), each head's q/k/v wired to it,
    all MLPs before the last AMID layer chained, and every earlier MLP -> each AMID head's query."""
    es = EdgeSet(GPT2, present=False)
    for group in ("0305", "01", "MEARLY"):
        for l, h in GT_CIRCUIT[group]:
            for r in _gt_inputs(l, h):
                es.set(RESID_PRE, r, True)
    for group in ("AMID", "MLATE"):
        for l, h in GT_CIRCUIT[group]:
            for s in _gt_outputs(l, h):
                es.set(s, OUT, True)
    for members in GT_CIRCUIT.values():
        if members[0][1] is not None:
            continue
        for l1, _ in members:
            for l2, _ in members:
                if l1 < l2:
                    es.set(mlp_out(l1), mlp_in(l2), True)
    for g1, g2 in GT_PAIRS:
        for l1, h1 in GT_CIRCUIT[g1]:
            for l2, h2 in GT_CIRCUIT[g2]:
                if l1 >= l2 and not (l1 == l2 and h1 is not None and h2 is None):
                    continue
                for s in _gt_outputs(l1, h1):
                    for r in _gt_inputs(l2, h2):
                        es.set(s, r, True)
    for l, h in (lh for members in GT_CIRCUIT.values() for lh in members):
        if h is None:
            continue
        for x in "qkv":
            es.set(qkv_in(l, h, x), qkv(l, h, x), True)
            es.set(qkv(l, h, x), result(l, h), True)
    last_amid = max(l for l, _ in GT_CIRCUIT["AMID"])
    for ls in range(last_amid):
        for lr in range(ls + 1, last_amid):
            es.set(mlp_out(ls), mlp_in(lr), True)
    for l, h in GT_CIRCUIT["AMID"]:
        for ls in range(l):
            es.set(mlp_out(ls), qkv_in(l, h, "q"), True)
    return es.rows()


def docstring_edges() -> list[list]:
    """The 37 edges of Heimersheim & Janiak's manual docstring circuit, as listed by the reference
    (no q/k/v -> head placeholder edges, as there)."""
    es = EdgeSet(ATTN_ONLY_4L, present=False)
    emb, out = RESID_PRE, Node("blocks.3.hook_resid_post")
    pairs = [
        (result(0, 5), qkv_in(1, 4, "v")),
        (qkv_in(0, 5, "v"), qkv(0, 5, "v")),
        (emb, qkv_in(0, 5, "v")),
        (qkv_in(2, 0, "q"), qkv(2, 0, "q")),
        (emb, qkv_in(2, 0, "q")),
        (result(0, 5), qkv_in(2, 0, "q")),
        (qkv_in(2, 0, "k"), qkv(2, 0, "k")),
        (emb, qkv_in(2, 0, "k")),
        (result(0, 5), qkv_in(2, 0, "k")),
        (qkv_in(2, 0, "v"), qkv(2, 0, "v")),
        (result(1, 4), qkv_in(2, 0, "v")),
        (qkv_in(1, 4, "v"), qkv(1, 4, "v")),
        (emb, qkv_in(1, 4, "v")),
        (qkv_in(1, 2, "q"), qkv(1, 2, "q")),
        (qkv_in(1, 2, "k"), qkv(1, 2, "k")),
        (emb, qkv_in(1, 2, "q")),
        (emb, qkv_in(1, 2, "k")),
        (result(0, 5), qkv_in(1, 2, "q")),
        (result(0, 5), qkv_in(1, 2, "k")),
    ]
    for h in (0, 6):
        pairs += [
            (result(3, h), out),
            (qkv_in(3, h, "q"), qkv(3, h, "q")),
            (result(1, 4), qkv_in(3, h, "q")),
            (qkv_in(3, h, "v"), qkv(3, h, "v")),
            (emb, qkv_in(3, h, "v")),
            (result(0, 5), qkv_in(3, h, "v")),
            (qkv_in(3, h, "k"), qkv(3, h, "k")),
            (result(2, 0), qkv_in(3, h, "k")),
            (result(1, 2), qkv_in(3, h, "k")),
        ]
    assert len(pairs) == 37
    for s, r in pairs:
        es.set(s, r, True)
    return es.rows()


ABOUT = {
    "ioi": "Canonical IOI circuit (Wang et al. 2022) on GPT-2 small, as built by the ACDC reference implementation (acdc/ioi/utils.py, get_ioi_true_edges), placeholders included where it marks them present.",
    "greaterthan": "Canonical greater-than circuit (Hanna et al. 2023) on GPT-2 small, as built by the ACDC reference implementation (acdc/greaterthan/utils.py, get_greaterthan_true_edges); like it, no mlp_in -> mlp_out placeholder edges.",
    "docstring": "Canonical docstring circuit (Heimersheim & Janiak 2023) on attn-only-4l: the 37 edges listed by the ACDC reference implementation (acdc/docstring/utils.py, get_docstring_subgraph_true_edges).",
}
BUILDERS = {"ioi": ioi_edges, "greaterthan": greaterthan_edges, "docstring": docstring_edges}


def main() -> int:
    for task, build in BUILDERS.items():
        rows = build()
        d = HUB_DIR / task
        d.mkdir(parents=True, exist_ok=True)
        text = b'{\n  "about": ' + orjson.dumps(ABOUT[task]) + b',\n  "edges": [\n'
        text += b",\n".join(b"    " + orjson.dumps(r) for r in rows) + b"\n  ]\n}\n"
        (d / "canonical_circuit.json").write_bytes(text)
        print(f"{task}: {len(rows)} edges -> {d / 'canonical_circuit.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
