"""EAP-IG / MIB graph JSON: a hand-written file in EAP-IG's `Graph.to_json` layout, and round trips."""

from __future__ import annotations

import copy
from pathlib import Path

import orjson
import pytest

from acdc_tui.cli.main import main
from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import EdgeType, Node
from acdc_tui.io.circuit import read_circuit
from acdc_tui.io.eap import circuit_from_eap_json, eap_edge_count, to_eap_json
from acdc_tui.io.loader import SourceKind, load_circuit_any
from acdc_tui.io.writer import write_circuit_as

FIXTURE = Path(__file__).parent / "data" / "eap_graph_2l1h.json"
RESID_PRE = Node("blocks.0.hook_resid_pre")


def result(layer, head=0):
    return Node(f"blocks.{layer}.attn.hook_result", head)


def qkv_in(layer, letter, head=0):
    return Node(f"blocks.{layer}.hook_{letter}_input", head)


def qkv(layer, letter, head=0):
    return Node(f"blocks.{layer}.attn.hook_{letter}", head)


def test_a_hand_written_eap_ig_file_maps_onto_our_graph():
    loaded = load_circuit_any(FIXTURE)
    assert loaded.kind is SourceKind.EAP_JSON
    c = loaded.circuit
    out, mlp_in0, mlp_out0 = Node("blocks.1.hook_resid_post"), Node("blocks.0.hook_mlp_in"), Node("blocks.0.hook_mlp_out")
    residual = {
        (RESID_PRE, qkv_in(0, "v")),  # input->a0.h0<v>
        (result(0), mlp_in0),  # a0.h0->m0
        (RESID_PRE, qkv_in(1, "q")),  # input->a1.h0<q>
        (result(0), qkv_in(1, "k")),  # a0.h0->a1.h0<k>
        (mlp_out0, out),  # m0->logits
        (result(1), out),  # a1.h0->logits
    }
    direct = {(qkv_in(0, "v"), qkv(0, "v")), (qkv_in(1, "q"), qkv(1, "q")), (qkv_in(1, "k"), qkv(1, "k"))}
    placeholders = {(qkv(layer, x), result(layer)) for layer in (0, 1) for x in "qkv"} | {(mlp_in0, mlp_out0)}  # m1 is unused
    present = {(e.sender, e.receiver) for e in c.edges if e.present}
    assert present == residual | direct | placeholders
    by_key = {(e.sender, e.receiver): e for e in c.edges}
    assert by_key[(RESID_PRE, qkv_in(0, "v"))].delta == 0.5
    assert by_key[(RESID_PRE, qkv_in(0, "q"))].delta == 0.01 and not by_key[(RESID_PRE, qkv_in(0, "q"))].present  # scores of edges out of the graph too
    assert by_key[(result(0), qkv_in(1, "k"))].delta == -0.4
    assert by_key[(qkv_in(0, "v"), qkv(0, "v"))].delta is None  # EAP-IG has no such edge
    assert c.summary == {"edges_total": 29, "edges_kept": 9, "edges_decided": 29}  # 23 EAP-IG edges + 6 q/k/v input -> q/k/v
    assert c.model["config"] == {"n_layers": 2, "n_heads": 1, "attn_only": False, "d_model": 8}


def test_writing_back_reproduces_the_hand_written_file():
    doc = orjson.loads(FIXTURE.read_bytes())
    again = to_eap_json(circuit_from_eap_json(doc, str(FIXTURE)))
    assert again["cfg"] == doc["cfg"]
    assert list(again["nodes"]) == list(doc["nodes"]) and list(again["edges"]) == list(doc["edges"])  # EAP-IG's names, in its order
    assert again == doc
    assert len(doc["edges"]) == eap_edge_count(2, 1)




@pytest.mark.parametrize("name", ["tracr", "mlp", "attn-only"])
def test_round_trip_keeps_everything_the_layout_holds(finished_circuits, name):
    c = finished_circuits[name]
    eap = to_eap_json(c)
    back = circuit_from_eap_json(orjson.loads(orjson.dumps(eap)), f"{name}.json")
    assert to_eap_json(back) == eap
    assert back.spec == c.spec
    assert any(e["in_graph"] for e in eap["edges"].values()) and not all(e["in_graph"] for e in eap["edges"].values())


@pytest.mark.parametrize("name", ["mlp", "attn-only"])
def test_residual_edges_survive_one_to_one_without_separate_embeddings(finished_circuits, name):
    """With one input node every residual edge has an EAP-IG twin: its state (given its head or MLP is wired) and Δ come back."""
    c = finished_circuits[name]
    back = {(e.sender, e.receiver): e for e in circuit_from_eap_json(to_eap_json(c), "c.json").edges}
    before = {(e.sender, e.receiver): e for e in c.edges}
    graph = c.graph()
    for e in graph.edges:
        if e.type is not EdgeType.ADDITION:
            continue
        wired = all(before[link.key].present for link in _structural_path(graph, e.receiver))
        assert back[e.key].present == (before[e.key].present and wired), e
        assert back[e.key].delta == (before[e.key].delta or 0.0)
    if name == "attn-only":
        eap = to_eap_json(c)
        assert eap["cfg"]["attn_only"] is True and not eap["nodes"]["m0"]["in_graph"]
        assert not any(v["in_graph"] for k, v in eap["edges"].items() if "m0" in k or "m1" in k)


def _structural_path(graph, reader):
    """The non-residual edges from a residual reader to its head's or MLP's output (q_input -> q -> result)."""
    path, node = [], reader
    while True:
        links = [e for e in graph.outgoing(node) if e.type is not EdgeType.ADDITION]
        if not links:
            return path
        path.append(links[0])
        node = links[0].receiver


def test_separate_embed_and_pos_inputs_fold_into_input(finished_circuits):
    c = finished_circuits["tracr"]
    eap = to_eap_json(c)
    assert eap["cfg"]["use_pos_embed"] is True
    by_key = {(e.sender, e.receiver): e for e in c.edges}
    embed, pos, mlp_in = Node("hook_embed"), Node("hook_pos_embed"), Node("blocks.0.hook_mlp_in")
    folded = eap["edges"]["input->m0"]
    assert folded["in_graph"] == (by_key[(embed, mlp_in)].present or by_key[(pos, mlp_in)].present)
    assert folded["score"] == pytest.approx((by_key[(embed, mlp_in)].delta or 0.0) + (by_key[(pos, mlp_in)].delta or 0.0))


def test_run_writes_eap_and_every_command_reads_it(tmp_path, capsys):
    eap_file, json_file = tmp_path / "c.eap.json", tmp_path / "c.json"
    common = ["run", "--task", "tracr-proportion", "--threshold", "1e-6", "--zero-ablation", "--quiet"]
    assert main(common + ["--out", str(eap_file), "--format", "eap"]) == 0
    assert main(common + ["--out", str(json_file)]) == 0
    doc = orjson.loads(eap_file.read_bytes())
    assert set(doc) == {"cfg", "nodes", "edges"} and doc["nodes"]["logits"] == {"in_graph": True}
    assert to_eap_json(read_circuit(json_file)) == doc
    capsys.readouterr()
    assert main(["dot", str(eap_file)]) == 0
    assert capsys.readouterr().out.startswith("digraph circuit {")
    assert main(["run", "--task", "tracr-proportion", "--threshold", "1e-6", "--quiet", "--out", str(tmp_path / "c.dot"), "--format", "dot"]) == 0
    assert (tmp_path / "c.dot").read_text().startswith("digraph circuit {")


def test_a_circuit_without_d_model_cannot_be_written_as_eap(finished_circuits, tmp_path):
    c = copy.deepcopy(finished_circuits["mlp"])
    del c.model["config"]["d_model"]
    with pytest.raises(UserError, match="has no d_model"):
        write_circuit_as(c, tmp_path / "c.json", "eap")
    assert not (tmp_path / "c.json").exists()


def _swap_edge(doc: dict, name: str) -> None:
    """Replace one listed edge by `name` (the fixture lists every edge, so adding one would make too many)."""
    del doc["edges"]["m1->logits"]
    doc["edges"][name] = {"score": 0.0, "in_graph": True}


def _fixture_with(change) -> dict:
    doc = orjson.loads(FIXTURE.read_bytes())
    change(doc)
    return doc


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda d: d["cfg"].update(parallel_attn_mlp=True), "parallel attention and MLP"),
        (lambda d: d["cfg"].pop("n_heads"), "cfg.n_heads is missing"),
        (lambda d: d["cfg"].update(n_layers=10**5), "a circuit file may have"),
        (lambda d: _swap_edge(d, "a1.h0->a0.h0<q>"), "has the edge 'a1.h0->a0.h0<q>', which a model of its cfg (2 layers, 1 head) does not have"),
        (lambda d: _swap_edge(d, "input->a0.h0"), "<q>, <k> or <v> exactly on edges into heads"),
        (lambda d: _swap_edge(d, "input->m0<q>"), "<q>, <k> or <v> exactly on edges into heads"),
        (lambda d: d["edges"].update({"input->a0.h0": {"score": 0.0, "in_graph": True}}), "lists 24 edges, more than a model of its cfg (2 layers, 1 head) has"),
        (lambda d: d["edges"]["m0->logits"].update(score="high"), "edges['m0->logits'].score must be a finite number"),
        (lambda d: d["edges"]["m0->logits"].pop("in_graph"), "edges['m0->logits'].in_graph is missing"),
        (lambda d: d["nodes"].update({"a7.h0": {"in_graph": True}}), "names the node 'a7.h0'"),
        (lambda d: d["nodes"]["m0"].update(neurons=[True, False] * 4), "neuron-level circuit"),
        (lambda d: d.update(nodes=[]), "nodes must be an object"),
    ],
)
def test_bad_eap_files_are_one_line(change, needle):
    with pytest.raises(UserError) as info:
        circuit_from_eap_json(_fixture_with(change), "g.json")
    assert needle in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_a_full_neuron_mask_is_an_edge_level_circuit():
    doc = _fixture_with(lambda d: d["nodes"]["m0"].update(neurons=[True] * 8, neurons_scores=[0.0] * 8))
    assert circuit_from_eap_json(doc, "g.json").summary["edges_kept"] == 9


def test_pins_from_an_eap_file_keep_its_edges(finished_circuits, tmp_path):
    """--pins-from reads any supported format: a run at a high τ keeps every edge the file keeps."""
    eap_file, out = tmp_path / "pins.eap.json", tmp_path / "c.json"
    write_circuit_as(finished_circuits["tracr"], eap_file, "eap")
    assert main(["run", "--task", "tracr-proportion", "--threshold", "10", "--zero-ablation", "--quiet", "--pins-from", str(eap_file), "--out", str(out)]) == 0
    pinned_file = load_circuit_any(eap_file).circuit
    wanted = {e.key for e in pinned_file.edges if e.present and e.type is not EdgeType.PLACEHOLDER}
    got = read_circuit(out)
    assert wanted and wanted <= got.present_keys()
    assert {e.key for e in got.edges if e.pinned} == wanted
    assert got.present_keys(include_placeholders=False) == wanted  # τ = 10 removes every edge not pinned


@pytest.mark.parametrize("name", ["a01.h0->logits", "a" + "9" * 5000 + ".h0->logits", "input->logits\n", "input->a٠.h0<q>"])
def test_edge_names_must_be_written_as_eap_ig_writes_them(name):
    with pytest.raises(UserError, match="not SENDER->RECEIVER"):
        circuit_from_eap_json(_fixture_with(lambda d: _swap_edge(d, name)), "g.json")
