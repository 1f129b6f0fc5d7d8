"""Bad circuit files: one line naming the problem, the same from every command that reads them."""

from __future__ import annotations

import copy
import os
import stat

import orjson
import pytest

from acdc_tui.core.ablation import Ablation
from acdc_tui.cli.main import main
from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import GraphSpec, build_graph
from acdc_tui.io.atomic import write_atomic
from acdc_tui.io.circuit import circuit_from_json, circuit_to_json, read_circuit, write_circuit
from acdc_tui.io.file_graph import MAX_FILE_GRAPH_EDGES, graph_edge_count, graph_for
from acdc_tui.runs.experiment import to_circuit
from tests.helpers import experiment


@pytest.fixture(scope="module")
def good():
    exp = experiment("tracr-proportion", threshold=1e-6, ablation=Ablation.ZERO)
    list(exp.run.events())
    return circuit_to_json(to_circuit(exp, elapsed_s=1.0, complete=True))


def _set(doc, path, value):
    box = doc
    for key in path[:-1]:
        box = box[key]
    if value is _DELETE:
        del box[path[-1]]
    else:
        box[path[-1]] = value
    return doc


_DELETE = object()
BAD = [
    (("task",), "a task", "task must be an object, not 'a task'"),
    (("model",), [], "model must be an object, not a list of 0 items"),
    (("settings",), 3, "settings must be an object, not 3"),
    (("edges",), {}, "edges must be a list, not an object with 0 keys"),
    (("edges",), [], "edges must be a non-empty list"),
    (("edges", 5, "delta"), "abc", "edges[5].delta must be a finite number or null, not 'abc'"),
    (("edges", 5, "delta"), float("nan"), "edges[5].delta must be a finite number or null, not nan"),
    (("edges", 5, "delta"), True, "edges[5].delta must be a finite number or null, not true"),
    (("edges", 5, "present"), "false", "edges[5].present must be true or false, not 'false'"),
    (("edges", 5, "sender", "head"), 2.0, "edges[5].sender.head must be an integer of at least 0 or null, not 2.0"),
    (("edges", 5, "type"), "sum", "edges[5].type must be one of 'addition', 'direct_computation', 'placeholder', not 'sum'"),
    (("edges", 5, "decided_by"), "magic", "edges[5].decided_by must be one of"),
    (("edges", 5, "step"), -1, "edges[5].step must be an integer of at least 0 or null, not -1"),
    (("edges", 5, "receiver"), _DELETE, "edges[5].receiver is missing"),
    (("model", "config", "n_layers"), "two", "model.config.n_layers must be an integer of at least 1, not 'two'"),
    (("model", "config", "n_layers"), 2.5, "model.config.n_layers must be an integer of at least 1, not 2.5"),
    (("model", "config", "n_heads"), 0, "model.config.n_heads must be an integer of at least 1, not 0"),
    (("model", "config", "n_layers"), 1, "the file's model config and edges disagree"),
    (("model", "config", "attn_only"), "no", "model.config.attn_only must be true or false"),
    (("model", "config"), _DELETE, "model.config is missing"),
    (("settings", "threshold"), "0.1", "settings.threshold must be a finite number or null, not '0.1'"),
    (("settings", "use_pos_embed"), 1, "settings.use_pos_embed must be true or false, not 1"),
    (("settings", "pins"), [3], "settings.pins[0] must be a string, not 3"),
    (("metrics", "final"), "high", "metrics.final must be a finite number or null"),
    (("summary", "edges_kept"), -2, "summary.edges_kept must be an integer of at least 0, not -2"),
    (("summary", "elapsed_s"), None, "summary.elapsed_s must be a finite number of at least 0, not null"),
    (("complete",), "yes", "complete must be true or false, not 'yes'"),
    (("schema_version",), True, "schema version true"),
]


@pytest.mark.parametrize(("path", "value", "needle"), BAD, ids=[f"{'.'.join(map(str, p))}={v!r}"[:40] for p, v, _ in BAD])
def test_each_bad_field_is_named_in_one_line(good, path, value, needle):
    doc = _set(copy.deepcopy(good), path, value)
    with pytest.raises(UserError) as info:
        circuit_from_json(doc, "c.json")
    message = str(info.value)
    assert needle in message and "\n" not in message and message.startswith("c.json ") and " ." not in message, message


def test_edges_that_do_not_cover_the_graph_exactly(good):
    doc = copy.deepcopy(good)
    doc["edges"][7] = copy.deepcopy(doc["edges"][6])
    with pytest.raises(UserError, match="lists the edge .* twice"):
        circuit_from_json(doc, "c.json")
    doc = copy.deepcopy(good)
    doc["edges"].pop()
    with pytest.raises(UserError, match=r"lists 45 edges, but the graph of its model config has 46"):
        circuit_from_json(doc, "c.json")
    doc = copy.deepcopy(good)
    doc["edges"][0]["type"] = "placeholder"  # a real edge, of another type than the graph's
    with pytest.raises(UserError, match="gives the edge .* the type 'placeholder'"):
        circuit_from_json(doc, "c.json")
    doc = copy.deepcopy(good)
    doc["edges"][3]["pinned"] = doc["edges"][3]["forced"] = True
    with pytest.raises(UserError, match="forced must be false when the edge is pinned"):
        circuit_from_json(doc, "c.json")


def test_a_huge_claimed_model_is_refused_before_its_graph_is_built(good):
    doc = copy.deepcopy(good)
    doc["model"]["config"].update(n_layers=10**6, n_heads=10**4)
    misses = graph_for.cache_info().misses
    with pytest.raises(UserError, match=f"more than the {MAX_FILE_GRAPH_EDGES:,} a circuit file may have"):
        circuit_from_json(doc, "c.json")
    assert graph_for.cache_info().misses == misses  # nothing was built
    doc["model"]["config"].update(n_layers=10**15, n_heads=1)  # counted in closed form, not layer by layer (the fuzz test hung on one)
    with pytest.raises(UserError, match="more than the"):
        circuit_from_json(doc, "c.json")
    doc["model"]["config"].update(n_layers=30, n_heads=20)  # within the limit, but the file lists 46 edges
    with pytest.raises(UserError, match="the file's model config and edges disagree"):
        circuit_from_json(doc, "c.json")
    assert graph_for.cache_info().misses == misses


@pytest.mark.parametrize(
    "spec",
    [
        GraphSpec(1, 1), GraphSpec(2, 3), GraphSpec(3, 2, attn_only=True), GraphSpec(2, 1, use_pos_embed=True), GraphSpec(4, 4, True, True), GraphSpec(12, 12),
        GraphSpec(3, 4, n_kv_heads=2, family="llama"), GraphSpec(2, 6, n_kv_heads=1, family="llama"), GraphSpec(3, 4, parallel_attn_mlp=True, family="neox"),
    ],
)
def test_edge_count_formula_matches_the_built_graph(spec):
    assert graph_edge_count(spec) == len(build_graph(spec).edges)


def test_gpt2_small_and_large_sizes_are_within_the_limit():
    assert graph_edge_count(GraphSpec(12, 12)) == 33367
    assert graph_edge_count(GraphSpec(36, 20)) < MAX_FILE_GRAPH_EDGES < graph_edge_count(GraphSpec(48, 25))


def test_json_without_nan_literals(tmp_path, good):
    path = tmp_path / "c.json"
    path.write_bytes(orjson.dumps(good).replace(b'"delta":null', b'"delta":NaN', 1))
    with pytest.raises(UserError, match="is not valid JSON"):
        read_circuit(path)


CLI_BAD = [(("edges", 5, "delta"), "abc"), (("task",), "x"), (("edges",), {}), (("model", "config", "n_layers"), 10**7)]


@pytest.mark.parametrize(("path", "value"), CLI_BAD)
def test_open_dot_and_diff_reject_a_file_with_the_same_line(good, tmp_path, capsys, path, value):
    bad = tmp_path / "bad.json"
    bad.write_bytes(orjson.dumps(_set(copy.deepcopy(good), path, value)))
    good_file = tmp_path / "good.json"
    good_file.write_bytes(orjson.dumps(good))
    errors = []
    for args in (["open", str(bad)], ["dot", str(bad)], ["diff", str(good_file), str(bad)]):
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        errors.append(err)
    assert errors[0] == errors[1] == errors[2] and str(bad) in errors[0]


def test_open_of_a_valid_file_gets_past_validation(good, tmp_path, capsys):
    f = tmp_path / "good.json"
    f.write_bytes(orjson.dumps(good))
    assert main(["open", str(f)]) == 2  # not a terminal under pytest: the file itself was fine
    assert "needs a terminal" in capsys.readouterr().err


def test_reading_a_directory_or_nothing(tmp_path):
    with pytest.raises(UserError, match="is a directory, not a circuit file"):
        read_circuit(tmp_path)
    with pytest.raises(UserError, match="cannot read circuit file .*no such file"):
        read_circuit(tmp_path / "nope.json")


# ---- atomic output ----


def test_write_atomic_replaces_whole_files_and_leaves_no_temporary_file(tmp_path, good):
    target = tmp_path / "c.json"
    target.write_bytes(b"old")
    write_atomic(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()  # an ordinary new file's mode, not mkstemp's 0600


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_write_atomic_failures_are_one_line_and_clean_up(tmp_path):
    with pytest.raises(UserError, match="the folder .* does not exist"):
        write_atomic(tmp_path / "missing" / "c.json", b"x")
    (tmp_path / "a-dir").mkdir()
    with pytest.raises(UserError, match="cannot write .*a-dir"):
        write_atomic(tmp_path / "a-dir", b"x")  # os.replace cannot put a file over a folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-dir"]  # the temporary file is gone


def test_write_circuit_uses_a_unique_temporary_name(tmp_path, good, monkeypatch):
    """Two writers of one path never share a temporary file (the old code used the fixed name PATH.tmp)."""
    import tempfile

    names = []
    real = tempfile.mkstemp

    def spy(*args, **kwargs):
        handle, name = real(*args, **kwargs)
        names.append(name)
        return handle, name

    monkeypatch.setattr(tempfile, "mkstemp", spy)
    c = circuit_from_json(good, "c.json")
    write_circuit(c, tmp_path / "c.json")
    write_circuit(c, tmp_path / "c.json")
    assert len(set(names)) == 2 and all(os.path.dirname(n) == str(tmp_path) for n in names)
    assert read_circuit(tmp_path / "c.json") == c


def test_a_gqa_config_is_checked_and_read(good):
    doc = copy.deepcopy(good)
    doc["model"]["config"].update({"n_key_value_heads": 3})
    with pytest.raises(UserError, match="must be a divisor of n_heads"):
        circuit_from_json(doc, "gqa.json")
    doc["model"]["config"].update({"n_key_value_heads": None, "family": "bloom"})
    with pytest.raises(UserError, match="must be an architecture acdc-tui models"):
        circuit_from_json(doc, "family.json")


def test_control_characters_from_a_file_stay_escaped_in_one_line(good):
    """A hook name with a newline or an escape sequence (the fuzz test found one) is named, not printed raw."""
    doc = copy.deepcopy(good)
    doc["edges"][0]["receiver"]["hook"] = "blocks.0\n\x1b[31mhook"
    with pytest.raises(UserError) as caught:
        circuit_from_json(doc, "c.json")
    message = str(caught.value)
    assert "\n" not in message and "\x1b" not in message and "blocks.0\\n\\x1b[31mhook" in message
