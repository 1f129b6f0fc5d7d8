"""Circuit JSON round-trips and DOT export."""

from __future__ import annotations

import orjson
import pytest

from acdc_tui.core.ablation import Ablation
from acdc_tui.core.errors import UserError
from acdc_tui.io.circuit import SCHEMA, read_circuit, write_circuit
from acdc_tui.io.dot import to_dot
from acdc_tui.runs.experiment import to_circuit
from tests.helpers import experiment


@pytest.fixture(scope="module")
def circuit():
    exp = experiment("tracr-proportion", threshold=1e-6, ablation=Ablation.ZERO)
    list(exp.run.events())
    return exp, to_circuit(exp, elapsed_s=1.5, complete=True)


def test_round_trip_restores_the_same_circuit(circuit, tmp_path):
    exp, c = circuit
    path = write_circuit(c, tmp_path / "c.json")
    back = read_circuit(path)
    assert back == c
    assert back.present_keys() == exp.task.ground_truth
    assert {e.key for e in back.edges} == {(e.sender.name, e.sender.head, e.receiver.name, e.receiver.head) for e in exp.graph.edges}


def test_json_fields(circuit, tmp_path):
    exp, c = circuit
    data = orjson.loads(write_circuit(c, tmp_path / "c.json").read_bytes())
    assert data["schema"] == SCHEMA and data["schema_version"] == 1 and data["complete"] is True
    assert data["task"]["name"] == "tracr-proportion" and data["task"]["metric"] == "l2"
    assert data["model"]["config"]["n_layers"] == 2 and data["model"]["fingerprint"].startswith("sha256:")
    assert data["settings"]["threshold"] == 1e-6 and data["settings"]["zero_ablation"] is True
    assert data["metrics"]["initial"] == exp.run.initial_metric and data["metrics"]["final"] == exp.run.current_metric
    assert data["summary"]["edges_total"] == exp.run.total and data["summary"]["edges_kept"] == exp.run.kept()
    edge = next(e for e in data["edges"] if e["sender"]["hook"] == "blocks.1.attn.hook_result")
    assert edge["sender"] == {"hook": "blocks.1.attn.hook_result", "head": 0}
    assert edge["receiver"] == {"hook": "blocks.1.hook_resid_post", "head": None}
    assert edge["type"] == "addition" and edge["present"] is True and edge["decided_by"] == "test"
    assert isinstance(edge["delta"], float) and isinstance(edge["step"], int)
    assert edge["pinned"] is False and edge["forced"] is False


def test_dot_export(circuit):
    _, c = circuit
    dot = to_dot(c)
    assert dot.startswith("digraph circuit {") and dot.rstrip().endswith("}")
    assert '[label="a1.0"]' in dot and '[label="out"]' in dot
    assert '"blocks.1.attn.hook_result[:, :, 0]" -> "blocks.1.hook_resid_post[:]"' in dot
    assert dot.count(" -> ") == len(c.present_keys())


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"schema": "something-else"}', "not an acdc-tui circuit"),
        (b'{"schema": "acdc-tui.circuit", "schema_version": 99}', "schema version 99"),
        (b'{"schema": "acdc-tui.circuit", "schema_version": 1, "edges": []}', "task is missing"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, content, needle):
    p = tmp_path / "bad.json"
    p.write_bytes(content)
    with pytest.raises(UserError) as info:
        read_circuit(p)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="cannot read circuit file"):
        read_circuit(tmp_path / "nope.json")
