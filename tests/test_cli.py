"""The headless command line: real runs, the reference-format log, and one-line errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import torch

from acdc_tui.cli.main import main
from acdc_tui.io.circuit import read_circuit

ROOT = Path(__file__).resolve().parents[1]
NODE_LINE = re.compile(r"^Node: cur_parent=TLACDCInterpNode\((\S+), (\[[^\]]*\])\) \(self\.current_node=TLACDCInterpNode\((\S+), (\[[^\]]*\])\)\)$")
METRIC_LINE = re.compile(r"^Metric after removing connection to (\S+) (\[[^\]]*\]) is (\S+) \(and current metric (\S+)\)$")
RESULT_LINE = re.compile(r"^Result is (\S+)\.\.\.so (removing|keeping) connection")


def test_headless_run_as_a_user_would(tmp_path):
    """The real entry point in a subprocess: log on stdout, progress on stderr, JSON, log file, DOT."""
    out, log, dot = tmp_path / "c.json", tmp_path / "run.log", tmp_path / "c.dot"
    cmd = [sys.executable, "-m", "acdc_tui", "run", "--headless", "--task", "tracr-proportion", "--threshold", "1e-6", "--zero-ablation", "--out", str(out), "--log", str(log), "--dot", str(dot)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"\[38/38\] 100\.0%\s+\S+ edges/s\s+elapsed \S+\s+ETA 0:00", proc.stderr)
    lines = [line for line in log.read_text().splitlines() if not line.startswith("# acdc-tui")]  # each run's header
    assert proc.stdout.splitlines()[: len(lines)] == lines
    summary = proc.stdout.splitlines()[-1]
    assert summary.startswith("Summary: kept 10/38 edges; metric 0 -> ") and str(out) in summary
    # Every decision is a Node / Metric / Result triple that the reference's own parser would read.
    results = [i for i, l in enumerate(lines) if l.startswith("Result is")]
    assert len(results) == sum(1 for l in lines if l.startswith("Node: ")) > 0
    for i in results:
        node, metric, result = NODE_LINE.match(lines[i - 2]), METRIC_LINE.match(lines[i - 1]), RESULT_LINE.match(lines[i])
        assert node and metric and result
        assert node.group(1, 2) == metric.group(1, 2)
        assert float(result.group(1)) == pytest.approx(float(metric.group(3)) - float(metric.group(4)), rel=1e-9, abs=1e-12)
    circuit = read_circuit(out)
    kept_in_log = sum(1 for i in results if RESULT_LINE.match(lines[i]).group(2) == "keeping")
    assert circuit.summary["edges_kept"] == 10 and kept_in_log <= 10
    assert dot.read_text().startswith("digraph circuit {")


def test_task_dir_run_in_process(small_task_dir, tmp_path, capsys):
    out = tmp_path / "c.json"
    code = main(["run", "--task-dir", str(small_task_dir), "--threshold", "0.02", "--out", str(out), "--quiet", "--pin", "a0.0->a1.1.v_in", "--force-prune", "embed->out"])
    assert code == 0
    data = orjson.loads(out.read_bytes())
    assert data["task"]["metric"] == "kl" and data["complete"] is True
    edges = {(e["sender"]["hook"], e["sender"]["head"], e["receiver"]["hook"], e["receiver"]["head"]): e for e in data["edges"]}
    pinned = edges[("blocks.0.attn.hook_result", 0, "blocks.1.hook_v_input", 1)]
    forced = edges[("blocks.0.hook_resid_pre", None, "blocks.1.hook_resid_post", None)]
    assert pinned["pinned"] and pinned["present"]
    assert forced["forced"] and not forced["present"] and forced["decided_by"] == "forced"
    assert data["settings"]["pins"] == ["blocks.0.attn.hook_result[:, :, 0]->blocks.1.hook_v_input[:, :, 1]"]
    captured = capsys.readouterr()
    assert "Node: " not in captured.out and captured.out.startswith("Summary: ")


def _bad_task_dir(tmp_path: Path, small_task_dir: Path, kind: str) -> Path:
    d = tmp_path / kind
    d.mkdir()
    for f in ("config.json", "weights.pt", "tokens.pt"):
        (d / f).write_bytes((small_task_dir / f).read_bytes())
    if kind == "missing":
        (d / "tokens.pt").unlink()
    elif kind == "bad-json":
        (d / "config.json").write_text("{n_layers: 2")
    elif kind == "shape-mismatch":
        toks = torch.load(d / "tokens.pt")
        torch.save({"clean": toks["clean"], "corrupted": toks["corrupted"][:, :-1]}, d / "tokens.pt")
    elif kind == "vocab-mismatch":
        toks = torch.load(d / "tokens.pt")
        torch.save({"clean": toks["clean"] + 1000, "corrupted": toks["corrupted"]}, d / "tokens.pt")
    elif kind == "config-mismatch":
        cfg = orjson.loads((d / "config.json").read_bytes())
        (d / "config.json").write_bytes(orjson.dumps({**cfg, "d_model": 24, "d_head": 12}))
    elif kind == "not-a-dict":
        torch.save(torch.zeros(3), d / "weights.pt")
    return d


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "--task", "tracr-nope", "--threshold", "0.1"], "unknown task 'tracr-nope'"),
        (["run", "--task", "tracr-reverse", "--threshold", "abc"], "threshold 'abc' is not a number"),
        (["run", "--task", "tracr-reverse"], "--threshold"),
        (["run", "--task", "tracr-reverse", "--threshold", "0.1", "--metric", "logit_diff"], "unknown metric 'logit_diff'"),
        (["run", "--task", "tracr-reverse", "--threshold", "0.1", "--pin", "blocks.3.attn.hook_reslt[0]->out"], "unknown hook point"),
        (["run", "--task", "tracr-reverse", "--threshold", "0.1", "--pin", "a3.0.q->a3.0"], "placeholder edge"),
        (["run", "--task", "tracr-reverse", "--threshold", "0.1", "--dtype", "float8"], "unknown dtype"),
        (["run", "--task", "tracr-reverse", "--threshold", "0.1", "--device", "tpu"], "unknown device"),
        (["run", "--task-dir", "/nonexistent/dir", "--threshold", "0.1"], "does not exist"),
        (["dot", "/nonexistent/c.json"], "cannot read circuit file"),
        (["open", "/nonexistent/c.json"], "cannot read circuit file"),
        (["--task", "tracr-nope"], "unknown task 'tracr-nope'"),
        (["--task", "tracr-reverse", "--threshold", "x"], "threshold 'x' is not a number"),
        (["run", "--task", "tracr-reverse", "--threshold", "0.1", "--out", "/nonexistent/dir/c.json"], "does not exist"),
        (["run", "--task", "tracr-reverse", "--threshold", "0.1", "--log", "/"], "is a directory"),
    ],
)
def test_bad_input_is_one_line_no_traceback(args, needle, capsys):
    assert main(args) != 0
    err = capsys.readouterr().err.strip()
    assert needle in err and "Traceback" not in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize(
    ("kind", "needle"),
    [
        ("missing", "lacks tokens.pt"),
        ("bad-json", "is not valid JSON"),
        ("shape-mismatch", "differ in shape"),
        ("vocab-mismatch", "outside the model's vocabulary"),
        ("config-mismatch", "check that config.json matches weights.pt"),
        ("not-a-dict", "must hold a state dict"),
    ],
)
def test_malformed_task_dirs(kind, needle, tmp_path, small_task_dir, capsys):
    d = _bad_task_dir(tmp_path, small_task_dir, kind)
    assert main(["run", "--task-dir", str(d), "--threshold", "0.1", "--out", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err


def test_interrupted_run_saves_every_decision_so_far(tmp_path, capsys):
    """Ctrl-C in the middle of an edge test: the JSON holds the decided edges, the one in flight is intact."""
    from acdc_tui.cli.job import serve_job
    from acdc_tui.runs.identity import Recipe, journal_meta
    from acdc_tui.runs.journal.writer import JournalWriter
    from tests.helpers import experiment

    exp = experiment("tracr-reverse", threshold=0.01)
    real, calls = exp.run.engine.evaluate, []

    def interrupted_on_the_20th_call(absent):
        calls.append(1)
        if len(calls) == 20:
            raise KeyboardInterrupt
        return real(absent)

    exp.run.engine.evaluate = interrupted_on_the_20th_call
    writer = JournalWriter.create(tmp_path / "j.journal", journal_meta(exp, Recipe.of("tracr-reverse", None, None, "cpu", "float64")))
    status = serve_job(exp, writer, out=tmp_path / "c.json", dot=None, log=None, quiet=True, autorun=True, header="test")
    assert status == 130
    assert "resume with: acdc-tui resume" in capsys.readouterr().err
    data = orjson.loads((tmp_path / "c.json").read_bytes())
    assert data["complete"] is False
    decided = [e for e in data["edges"] if e["decided_by"] == "test"]
    assert len(decided) == 18  # the initial metric took one call, the 20th was interrupted
    undecided = [e for e in data["edges"] if e["decided_by"] is None and e["type"] != "placeholder"]
    assert undecided and all(e["present"] for e in undecided)


def test_unsupported_architecture_is_refused(tmp_path, small_task_dir, capsys):
    d = _bad_task_dir(tmp_path, small_task_dir, "ok")
    cfg = orjson.loads((d / "config.json").read_bytes())
    (d / "config.json").write_bytes(orjson.dumps({**cfg, "use_normalization_before_and_after": True}))
    assert main(["run", "--task-dir", str(d), "--threshold", "0.1", "--out", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "norms after attention and MLP" in err and len(err.splitlines()) == 1


def test_tasks_and_dot_commands(tmp_path, capsys):
    assert main(["tasks"]) == 0
    listing = capsys.readouterr().out
    assert "tracr-reverse" in listing and "tracr-proportion" in listing and "--task-dir" in listing
    out = tmp_path / "c.json"
    assert main(["run", "--task", "tracr-proportion", "--threshold", "1e-6", "--zero-ablation", "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["dot", str(out), "--out", str(tmp_path / "c.dot")]) == 0
    dot = (tmp_path / "c.dot").read_text()
    assert dot.count(" -> ") == 14  # the canonical proportion circuit, placeholders included
    assert main(["dot", str(out), "--include-removed"]) == 0
    assert capsys.readouterr().out.count(" -> ") == 46  # every edge of the graph, placeholders included


def test_explorer_options_without_a_terminal_run_headless(tmp_path, capsys):
    """`acdc-tui [run options]` opens the explorer; piped (as under pytest) it runs headless instead."""
    out = tmp_path / "c.json"
    assert main(["--task", "tracr-proportion", "--threshold", "1e-6", "--zero-ablation", "--out", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "not a terminal: running headless" in captured.err
    assert read_circuit(out).summary["edges_kept"] == 10


def test_open_rejects_a_file_whose_edges_do_not_fit_its_model(tmp_path, capsys):
    assert main(["run", "--task", "tracr-proportion", "--threshold", "0.1", "--out", str(tmp_path / "c.json"), "--quiet"]) == 0
    data = orjson.loads((tmp_path / "c.json").read_bytes())
    data["model"]["config"]["n_layers"] = 1  # the file's edges name layer 1, which a 1-layer graph lacks
    (tmp_path / "bad.json").write_bytes(orjson.dumps(data))
    (tmp_path / "junk.json").write_text("{not json")
    capsys.readouterr()
    assert main(["open", str(tmp_path / "bad.json")]) == 2
    assert "model config and edges disagree" in capsys.readouterr().err
    assert main(["open", str(tmp_path / "junk.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "is not valid JSON" in err and len(err.splitlines()) == 1
