"""Sweeps on Ray: a real local Ray of 2 CPUs gives the sequential sweep's JSON (points, edges, metrics,
AUC, faithfulness); a point whose journal a lost worker left behind resumes instead of restarting;
finished points are read back from their journals; one worker experiment serves every point."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import orjson
import pytest
import torch

from acdc_tui.analysis import ray_sweep
from acdc_tui.cli.main import main
from acdc_tui.runs.journal.reader import JournalReader
from tests.helpers import experiment
from tests.test_journal import run_journal

GRID = "0.1,0.01,0.001,1e-6"
TAUS = [0.1, 0.01, 0.001, 1e-6]


def _points(data: dict) -> list[dict]:
    return [{k: v for k, v in p.items() if k != "elapsed_s"} for p in data["points"]]


def _sequential(tmp_path) -> dict:
    out = tmp_path / "sequential.json"
    assert main(["sweep", "--task", "tracr-reverse", "--thresholds", GRID, "--with-edges", "--quiet", "--out", str(out), "--journal", str(tmp_path / "seq.journal")]) == 0
    return orjson.loads(out.read_bytes())


def test_a_local_ray_sweep_equals_the_sequential_one(tmp_path):
    pytest.importorskip("ray")
    folder = tmp_path / "points"
    folder.mkdir()
    # a lost worker's leftover: point 2 crashed after 30 events
    lost = ray_sweep.point_journal(folder, 2, TAUS[1])
    run_journal(lost, experiment("tracr-reverse", dtype=torch.float32, threshold=TAUS[1]), {}, crash_at=30)
    out = tmp_path / "ray.json"
    cmd = [sys.executable, "-m", "acdc_tui", "sweep", "--task", "tracr-reverse", "--thresholds", GRID, "--with-edges", "--quiet",
           "--out", str(out), "--journal", str(folder), "--ray", "--ray-cpus", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_DISABLE_USAGE_STATS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ray_data, seq = orjson.loads(out.read_bytes()), _sequential(tmp_path)
    assert _points(ray_data) == _points(seq)
    assert ray_data["auc"] == seq["auc"] and ray_data["metrics"] == seq["metrics"] and ray_data["faithfulness"] == seq["faithfulness"]
    assert ray_data["settings"] == seq["settings"] and ray_data["summary"]["edges_total"] == seq["summary"]["edges_total"]
    assert sorted(p.name for p in folder.iterdir() if p.suffix == ".journal") == [ray_sweep.point_journal(folder, i, t).name for i, t in enumerate(TAUS, 1)]
    reader = JournalReader(lost)
    sessions = reader.sessions()
    reader.close()
    assert len(sessions) == 2 and sessions[0]["exit"] is None and sessions[1]["resumed_at"] > 0 and sessions[1]["exit"] == "finished"


def test_run_point_resumes_a_lost_point_and_reads_back_a_finished_one(tmp_path, monkeypatch):
    """The worker function alone, in this process: a crashed journal resumes to the run's result, a
    finished one is read back without running, and both share the worker's one experiment."""
    monkeypatch.setattr(ray_sweep, "_EXPERIMENTS", {})
    recipe = {"task": "tracr-proportion", "task_dir": None, "model_path": None, "device": "cpu", "dtype": "float64"}
    exp = experiment("tracr-proportion", dtype=torch.float64, threshold=0.01)
    settings = dataclasses.asdict(exp.settings)
    fresh = ray_sweep.run_point(recipe, settings, 0.01, str(tmp_path / "fresh.journal"))
    lost = tmp_path / "lost.journal"
    run_journal(lost, experiment("tracr-proportion", dtype=torch.float64, threshold=0.01), {}, crash_at=12)
    resumed = ray_sweep.run_point(recipe, settings, 0.01, str(lost))
    again = ray_sweep.run_point(recipe, settings, 0.01, str(lost))
    for got in (resumed, again):
        assert {k: got[k] for k in ("edges_kept", "edges", "complete")} == {k: fresh[k] for k in ("edges_kept", "edges", "complete")}
        assert got["metric"] == pytest.approx(fresh["metric"], rel=1e-9, abs=1e-15)
    reader = JournalReader(lost)
    assert len(reader.sessions()) == 2  # the crashed one and the resume; reading back added none
    reader.close()
    assert len(ray_sweep._EXPERIMENTS) == 1


def test_ray_refusals_are_one_line(tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert main(["sweep", "--task", "tracr-reverse", "--thresholds", "0.1", "--ray", "--journal", str(tmp_path / "f"), "--out", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "with --ray it names a folder" in err and "\n" not in err
    assert main(["sweep", "--task", "tracr-reverse", "--top-k", "eap-ig", "--ray", "--out", str(tmp_path / "o.json")]) == 2
    assert "drop --ray" in capsys.readouterr().err


def test_without_ray_the_package_works_and_ray_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    assert main(["sweep", "--task", "tracr-reverse", "--thresholds", "0.1", "--ray", "--out", str(tmp_path / "o.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "acdc-tui: error: --ray needs Ray, an optional extra: pip install 'acdc-tui[ray]' (or run the sweep without --ray)"
    assert main(["sweep", "--task", "tracr-reverse", "--thresholds", "0.1", "--quiet", "--out", str(tmp_path / "o.json")]) == 0
