"""Subgraphs saved by the reference ACDC code: read without running pickled code, opened, diffed."""

from __future__ import annotations

import collections
import io
from pathlib import Path

import pytest
import torch

from acdc_tui.cli.main import main
from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import Node
from acdc_tui.io.circuit import Circuit
from acdc_tui.io.diff import diff_circuits
from acdc_tui.io.loader import SourceKind, load_circuit_any, load_circuit_bytes
from acdc_tui.io.writer import write_circuit_as


def torch_index(node: Node) -> tuple:
    """The reference's TorchIndex.hashable_tuple: [:] is (None,), [:, :, h] is (None, None, h)."""
    return (None,) if node.head is None else (None, None, node.head)


def save_subgraph_like_the_reference(c: Circuit, path: Path) -> Path:
    """What TLACDCExperiment.save_subgraph writes: an OrderedDict keyed
    (receiver_name, receiver_index, sender_name, sender_index) -> edge.present, saved with torch.save,
    edges grouped by receiver as its correspondence dictionary iterates them."""
    ret = collections.OrderedDict()
    for e in sorted(c.edges, key=lambda e: (e.receiver.name, torch_index(e.receiver) != (None,), e.receiver.head or 0)):
        ret[(e.receiver.name, torch_index(e.receiver), e.sender.name, torch_index(e.sender))] = e.present
    torch.save(ret, path)
    return path




@pytest.mark.parametrize("name", ["tracr", "mlp", "attn-only"])
def test_a_reference_subgraph_maps_onto_our_graph_edge_for_edge(finished_circuits, name, tmp_path):
    c = finished_circuits[name]
    loaded = load_circuit_any(save_subgraph_like_the_reference(c, tmp_path / "subgraph.pth"))
    assert loaded.kind is SourceKind.REFERENCE_PTH
    assert loaded.circuit.spec == c.spec  # layers, heads, MLPs and separate embed/pos inputs inferred from the hook names
    assert loaded.circuit.present_keys() == c.present_keys()
    assert diff_circuits(c, loaded.circuit).identical
    assert all(e.delta is None for e in loaded.circuit.edges)


def test_diff_and_dot_commands_read_it(finished_circuits, tmp_path, capsys):
    pth = save_subgraph_like_the_reference(finished_circuits["tracr"], tmp_path / "ref.pth")
    ours = write_circuit_as(finished_circuits["tracr"], tmp_path / "ours.json")
    assert main(["diff", str(ours), str(pth)]) == 0  # same edges: diff's exit status 0
    out = capsys.readouterr().out
    assert "reference ACDC subgraph (.pth)" in out and "0 only in A, 0 only in B" in out
    assert main(["dot", str(pth)]) == 0
    assert capsys.readouterr().out.count(" -> ") == len(finished_circuits["tracr"].present_keys())


async def test_the_explorer_opens_a_reference_subgraph(finished_circuits, tmp_path):
    from acdc_tui.ui.app import ExplorerApp
    from tests.test_explorer import SIZE, ready, until

    c = finished_circuits["mlp"]
    loaded = load_circuit_any(save_subgraph_like_the_reference(c, tmp_path / "ref.pth"))
    app = ExplorerApp(circuit=loaded.circuit, circuit_graph=loaded.graph, description="ref.pth", out=tmp_path / "copy.json")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        assert app.state.status.kept == c.summary["edges_kept"]
        assert {(e.sender, e.receiver) for e in app.state.present_edges()} == {(e.sender, e.receiver) for e in c.edges if e.present}


class _RunsCode:
    """Unpickling this would create a file: a safe loader must refuse it without calling it."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickled_code_is_never_run(tmp_path):
    marker = tmp_path / "pwned"
    payload = tmp_path / "evil.pth"
    torch.save(collections.OrderedDict({("blocks.0.hook_resid_post", (None,), "blocks.0.attn.hook_result", (None, None, 0)): _RunsCode(str(marker))}), payload)
    with pytest.raises(UserError) as info:
        load_circuit_any(payload)
    assert not marker.exists()
    message = str(info.value)
    assert "never runs pickled code" in message and "\n" not in message and "In PyTorch 2.6" not in message


def _pth(data) -> bytes:
    buf = io.BytesIO()
    torch.save(data, buf)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (torch.zeros(3), "not the non-empty edge dictionary"),
        ({}, "not the non-empty edge dictionary"),
        ({("a", (None,), "b"): True}, "not (receiver_hook, receiver_index, sender_hook, sender_index)"),
        ({("blocks.0.hook_resid_post", (None,), "blocks.0.attn.hook_result", (0,)): True}, "not a hook name with (None,) or (None, None, head)"),
        ({("blocks.0.hook_resid_post", (None,), "blocks.0.attn.hook_result", (None, None, 0)): 1}, "not true or false"),
        ({("blocks.0.hook_resid_post", (None,), "blocks.0.attn.hook_result", (None, None, 0)): True}, "has 1 edges, but the reference graph"),
        ({("blocks.9999.hook_resid_post", (None,), "blocks.0.attn.hook_result", (None, None, 9999)): True}, "a circuit file may have"),
    ],
)
def test_bad_subgraph_files_are_one_line(data, needle):
    with pytest.raises(UserError) as info:
        load_circuit_bytes(_pth(data), "s.pth")
    assert needle in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_a_subgraph_missing_an_edge(finished_circuits, tmp_path):
    path = save_subgraph_like_the_reference(finished_circuits["mlp"], tmp_path / "s.pth")
    data = torch.load(path, weights_only=True)
    first = next(iter(data))
    data[("blocks.0.hook_mlp_in", (None,), "blocks.1.hook_mlp_out", (None,))] = data.pop(first)  # a backwards edge instead
    with pytest.raises(UserError, match="lacks the edge"):
        load_circuit_bytes(_pth(data), "s.pth")


def test_garbage_bytes_are_not_a_circuit(tmp_path):
    with pytest.raises(UserError, match="cannot be read safely"):
        load_circuit_bytes(b"PK\x03\x04 not really a zip", "s.pth")
    with pytest.raises(UserError, match="is not a circuit file acdc-tui knows"):
        load_circuit_bytes(b"hello", "s.txt")


def test_a_layer_number_too_long_for_int_is_one_line():
    data = {("blocks." + "9" * 5000 + ".hook_resid_post", (None,), "blocks.0.attn.hook_result", (None, None, 0)): True}
    with pytest.raises(UserError):
        load_circuit_bytes(_pth(data), "s.pth")
