"""Property-based test of the circuit reader: structured mutations of valid circuit files.

Every generated document must be rejected with a UserError, or read to a circuit that is valid
(exactly the edges of its model's graph, every field of its type) and that every consumer (DOT,
diff, the explorer's state and status bar, EAP-IG export) can use. No other exception, ever.
"""

from __future__ import annotations

import copy
import json
import math

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import EdgeType, GraphSpec, build_graph
from acdc_tui.io.circuit import Circuit, CircuitEdge, DecidedBy, circuit_to_json
from acdc_tui.io.diff import diff_circuits
from acdc_tui.io.dot import to_dot
from acdc_tui.io.eap import to_eap_json
from acdc_tui.io.loader import load_circuit_bytes
from acdc_tui.ui.state import ExplorerState
from acdc_tui.ui.widgets.bars import status_text

N_EXAMPLES = 10_000


def base_circuit(spec: GraphSpec) -> Circuit:
    """A valid circuit with every kind of field value: kept and removed, pinned, forced, untested edges."""
    graph = build_graph(spec)
    decided = [d.value for d in DecidedBy] + [None]
    edges = [
        CircuitEdge(e.sender, e.receiver, e.type, present=i % 3 != 0, delta=None if i % 5 == 0 else (i - 20) / 7,
                    pinned=i == 4, forced=i == 9, step=None if i % 4 == 0 else i, decided_by=decided[i % len(decided)])
        for i, e in enumerate(graph.edges)
    ]
    config = {"n_layers": spec.n_layers, "n_heads": spec.n_heads, "attn_only": spec.attn_only, "d_model": 16, "act_fn": "gelu"}
    return Circuit(
        task={"name": "fuzz", "source": "test", "metric": "kl", "description": "d"},
        model={"config": config, "fingerprint": "sha256:0"},
        settings={"threshold": 0.01, "use_pos_embed": spec.use_pos_embed, "zero_ablation": False, "engine": "fast", "pins": [], "force_prunes": []},
        metrics={"initial": 0.0, "final": 0.5, "full": 0.0, "circuit": 0.5, "empty": 2.0},
        summary={"edges_total": len(graph.tested_edges), "edges_kept": 3, "edges_decided": 9, "elapsed_s": 1.5},
        edges=edges,
        created="2026-01-01T00:00:00+00:00",  # fixed, so that the derandomized examples are the same on every run
    )


BASES = [circuit_to_json(base_circuit(GraphSpec(2, 2))), circuit_to_json(base_circuit(GraphSpec(1, 2, attn_only=True, use_pos_embed=True)))]
BASES.append(to_eap_json(base_circuit(GraphSpec(2, 2))))
BASE_BYTES = [orjson.dumps(doc) for doc in BASES]  # parsed afresh per example: much faster than a deep copy
HOOKS = sorted({n.name for n in build_graph(GraphSpec(2, 2, use_pos_embed=True)).nodes}) + ["blocks.7.hook_resid_post", "", "hook_nope"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["", "NaN", "1e-3", "abc", "test", "addition", "placeholder"]),
    st.sampled_from(HOOKS), st.text(max_size=8),
)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=6)
# Values that are plausible at the place they land: hooks, heads, edge types, sizes of a model.
plausible = st.one_of(
    st.sampled_from(HOOKS), st.sampled_from([t.value for t in EdgeType]), st.sampled_from([d.value for d in DecidedBy]),
    st.integers(-1, 4), st.sampled_from([0, 10**6, 10**12, 2**63]), st.booleans(), st.none(),
)


def containers(doc) -> list:
    """Every dict and list inside doc, the document itself first (iterative: this runs on every mutation)."""
    out, stack = [], [doc]
    while stack:
        box = stack.pop()
        out.append(box)
        stack.extend(v for v in (box.values() if isinstance(box, dict) else box) if isinstance(v, (dict, list)))
    return out


def mutate(doc, data) -> None:
    """One structured mutation at a random place: replace, delete, add, wrap or duplicate a value."""
    places = list(containers(doc))
    box = places[data.draw(st.integers(0, len(places) - 1), label="place")]
    keys = list(box.keys()) if isinstance(box, dict) else list(range(len(box)))
    op = data.draw(st.sampled_from(["replace", "plausible", "delete", "add", "wrap", "duplicate", "swap"]), label="op")
    if not keys or op == "add":
        if isinstance(box, dict):
            box[data.draw(st.sampled_from(["present", "delta", "head", "hook", "x", "schema", "config"]))] = data.draw(json_values)
        else:
            box.append(data.draw(json_values))
        return
    key = data.draw(st.sampled_from(keys), label="key")
    if op == "replace":
        box[key] = data.draw(json_values, label="value")
    elif op == "plausible":
        box[key] = data.draw(plausible, label="value")
    elif op == "delete":
        del box[key]
    elif op == "wrap":
        box[key] = data.draw(st.sampled_from([[box[key]], {"value": box[key]}, str(box[key])]))
    elif op == "duplicate" and isinstance(box, list):
        box.insert(key, copy.deepcopy(box[key]))
    elif op == "swap" and len(keys) > 1:
        other = data.draw(st.sampled_from(keys))
        box[key], box[other] = box[other], box[key]


def encode(doc, data) -> bytes:
    """Bytes as a file would hold them; stdlib json keeps NaN and huge integers that orjson would refuse to write."""
    return json.dumps(doc).encode() if data.draw(st.booleans(), label="stdlib") else orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS) if _orjson_can(doc) else json.dumps(doc).encode()


def _orjson_can(doc) -> bool:
    try:
        orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)
        return True
    except TypeError:
        return False


def assert_usable(c: Circuit) -> None:
    """What 'read to a valid circuit' means: the graph's edges exactly, typed fields, and every consumer works."""
    graph = c.graph()
    assert [(e.sender, e.receiver) for e in sorted(c.edges, key=lambda e: e.key)] == sorted((e.sender, e.receiver) for e in graph.edges)
    for e in c.edges:
        assert e.type is graph.edge(e.sender, e.receiver).type
        assert all(type(flag) is bool for flag in (e.present, e.pinned, e.forced)) and not (e.pinned and e.forced)
        assert e.delta is None or (_number(e.delta))
        assert e.step is None or (type(e.step) is int and e.step >= 0)
        assert e.decided_by is None or e.decided_by in {d.value for d in DecidedBy}
    assert all(type(part) is dict for part in (c.task, c.model, c.settings, c.metrics, c.summary)) and type(c.complete) is bool
    assert all(v is None or _number(v) for k, v in c.metrics.items() if k in ("initial", "final", "full", "circuit", "empty"))
    assert all(type(v) is int and v >= 0 for k, v in c.summary.items() if k.startswith("edges_"))
    assert c.settings.get("threshold") is None or _number(c.settings["threshold"])
    to_dot(c, include_removed=True)
    assert diff_circuits(c, c).identical
    state = ExplorerState.from_circuit(graph, c)
    status_text(state.status, "viewing")
    try:
        to_eap_json(c)
    except UserError as e:  # a circuit without d_model cannot be EAP-IG JSON: a refusal, in one line
        assert "has no d_model" in str(e) and c.model["config"].get("d_model") is None


def _number(value) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


COUNTS = {"accepted": 0, "rejected": 0}


@settings(max_examples=N_EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(base=st.sampled_from(range(len(BASES))), n_mutations=st.integers(1, 3), data=st.data())
def check_reader(base, n_mutations, data) -> None:
    doc = orjson.loads(BASE_BYTES[base])
    for _ in range(n_mutations):
        mutate(doc, data)
    try:
        loaded = load_circuit_bytes(encode(doc, data), "fuzz.json")
    except UserError as e:
        assert "\n" not in str(e) and str(e)
        COUNTS["rejected"] += 1
        return
    assert_usable(loaded.circuit)
    COUNTS["accepted"] += 1


def test_every_malformed_circuit_file_is_a_user_error_or_a_valid_circuit():
    check_reader()
    assert COUNTS["accepted"] + COUNTS["rejected"] >= N_EXAMPLES
    assert COUNTS["accepted"] >= 100 and COUNTS["rejected"] >= N_EXAMPLES // 2, COUNTS  # both outcomes are exercised


# ---- reference .pth subgraphs: mutations of the edge dictionary that save_subgraph writes ----

PTH_EXAMPLES = 1_000
PTH_BASE = {
    (e.receiver.name, (None,) if e.receiver.head is None else (None, None, e.receiver.head), e.sender.name, (None,) if e.sender.head is None else (None, None, e.sender.head)): e.present
    for e in base_circuit(GraphSpec(2, 2)).edges
}
key_parts = st.one_of(scalars, st.sampled_from([(None,), (None, None, 0), (None, None, 7), (0,), (None, None, -1), ()]))


def mutate_pth(edges: dict, data) -> None:
    keys = list(edges)
    key = data.draw(st.sampled_from(keys), label="key") if keys else None
    op = data.draw(st.sampled_from(["value", "drop", "part", "add"]), label="op")
    if key is None or op == "add":
        edges[tuple(data.draw(key_parts) for _ in range(data.draw(st.integers(0, 5))))] = data.draw(scalars)
    elif op == "value":
        edges[key] = data.draw(scalars, label="value")
    elif op == "drop":
        del edges[key]
    else:
        position = data.draw(st.integers(0, 3))
        value = edges.pop(key)
        new_key = key[:position] + (data.draw(key_parts),) + key[position + 1:]
        try:
            edges[new_key] = value
        except TypeError:  # an unhashable part: no dictionary can hold that key
            edges[key] = value


@settings(max_examples=PTH_EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(n_mutations=st.integers(1, 3), data=st.data())
def check_pth_reader(n_mutations, data) -> None:
    import io

    import torch

    edges = dict(PTH_BASE)
    for _ in range(n_mutations):
        mutate_pth(edges, data)
    buffer = io.BytesIO()
    torch.save(edges, buffer)
    try:
        loaded = load_circuit_bytes(buffer.getvalue(), "fuzz.pth")
    except UserError as e:
        assert "\n" not in str(e) and str(e)
        COUNTS["pth rejected"] = COUNTS.get("pth rejected", 0) + 1
        return
    assert_usable(loaded.circuit)
    COUNTS["pth accepted"] = COUNTS.get("pth accepted", 0) + 1


def test_every_mutated_reference_subgraph_is_a_user_error_or_a_valid_circuit():
    check_pth_reader()
    assert COUNTS.get("pth accepted", 0) >= 5 and COUNTS.get("pth rejected", 0) >= PTH_EXAMPLES // 2, COUNTS
