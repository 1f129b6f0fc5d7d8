"""Threshold sweeps: one engine for every τ, ROC/AUC against the tracr ground truths, the CLI."""

from __future__ import annotations

import io

import orjson
import pytest

from acdc_tui.core.ablation import Ablation
from acdc_tui.analysis.sweep import SCHEMA, format_report, parse_logspace, parse_thresholds, read_sweep, run_sweep, write_sweep
from acdc_tui.analysis.text_plot import Series, plot, wants_ascii
from acdc_tui.cli.main import main
from acdc_tui.core.errors import UserError
from tests.helpers import experiment, final_state

GRID = [1e-1, 1e-2, 1e-6]  # τ = 1e-6 recovers the canonical circuit exactly (zero ablation, L2)


@pytest.mark.parametrize("task", ["tracr-reverse", "tracr-proportion"])
def test_zero_ablation_sweep_has_auc_one_as_in_the_paper(task):
    """Table 3 of the paper: ACDC's edge AUC on both tracr tasks with zero ablation is 1.000."""
    exp = experiment(task, threshold=GRID[0], ablation=Ablation.ZERO)
    result = run_sweep(exp, GRID, stderr=io.StringIO())
    assert result.complete and [p.threshold for p in result.points] == GRID
    at_1e6 = result.points[-1]
    assert at_1e6.edges == exp.task.ground_truth & at_1e6.edges and at_1e6.confusion.fn == 0 and at_1e6.confusion.fp == 0
    assert (at_1e6.confusion.tpr, at_1e6.confusion.fpr) == (1.0, 0.0)
    assert result.auc == 1.0
    assert [(p.fpr, p.tpr) for p in result.roc][0] == (0.0, 0.0) and [(p.fpr, p.tpr) for p in result.roc][-1] == (1.0, 1.0)
    assert result.full == 0.0 and result.empty > 0


def test_sweep_reuses_one_engine_and_matches_separate_runs():
    exp = experiment("tracr-proportion", threshold=1e-2)
    engine = exp.run.engine
    result = run_sweep(exp, [1e-2, 1e-4], stderr=io.StringIO())
    assert exp.run.engine is engine
    last = final_state(exp)  # the run at 1e-4
    fresh = experiment("tracr-proportion", threshold=1e-4)
    list(fresh.run.events())
    assert final_state(fresh) == last
    assert result.points[-1].edges_kept == fresh.run.kept() and result.points[-1].metric == fresh.run.current_metric


def test_progress_goes_to_stderr_one_line_per_threshold():
    err = io.StringIO()
    run_sweep(experiment("tracr-proportion", threshold=1e-2), [1e-2, 1e-6], stderr=err)
    lines = [l for l in err.getvalue().splitlines() if "τ=" in l]  # (slow runs also print live progress lines)
    assert len(lines) == 2
    assert lines[0].startswith("[1/2] τ=0.01: kept ") and lines[1].startswith("[2/2] τ=1e-06: kept ") and " edges, metric " in lines[1]


def test_ctrl_c_keeps_the_finished_thresholds(tmp_path):
    exp = experiment("tracr-proportion", threshold=1e-2, ablation=Ablation.ZERO)
    real, calls = exp.run.engine.evaluate, []

    def interrupted(absent):
        calls.append(1)
        if len(calls) == 40:
            raise KeyboardInterrupt
        return real(absent)

    exp.run.engine.evaluate = interrupted
    result = run_sweep(exp, [1e-1, 1e-2, 1e-6], stderr=io.StringIO())
    assert not result.complete
    assert [p.complete for p in result.points] == [True, True, False][: len(result.points)] and not result.points[-1].complete
    data = orjson.loads(write_sweep(result, tmp_path / "s.json").read_bytes())
    assert data["complete"] is False and data["points"][-1]["complete"] is False
    assert len(data["roc"]) == sum(p["complete"] for p in data["points"]) + 2  # only finished runs make ROC points


def test_cli_sweep_writes_json_that_reads_back(tmp_path, capsys):
    out = tmp_path / "sweep.json"
    code = main(["sweep", "--task", "tracr-proportion", "--zero-ablation", "--thresholds", "1e-6,0.1,1e-2", "--with-edges", "--quiet", "--out", str(out)])
    assert code == 0
    stdout = capsys.readouterr().out
    assert "threshold" in stdout and "ROC (edges), AUC 1.000" in stdout and "edges kept vs threshold" in stdout
    assert stdout.splitlines()[-1].startswith("Summary: 3 thresholds in ") and "AUC 1.000" in stdout.splitlines()[-1]
    data = read_sweep(out)
    assert data["schema"] == SCHEMA and data["schema_version"] == 2 and data["complete"] is True
    assert data["settings"]["thresholds"] == [0.1, 1e-2, 1e-6] and data["settings"]["zero_ablation"] is True
    assert data["task"] == {"name": "tracr-proportion", "source": "builtin", "metric": "l2", "description": data["task"]["description"]}
    assert data["metrics"]["full"] == 0.0 and data["metrics"]["empty"] > 0
    assert data["summary"]["edges_total"] == 38 and data["summary"]["ground_truth_edges"] == 10 and data["summary"]["runs"] == 3
    assert data["auc"] == data["summary"]["auc"] == 1.0
    p = data["points"][-1]
    assert p["threshold"] == 1e-6 and p["edges_kept"] == 10 and (p["tp"], p["fp"], p["fn"], p["tn"]) == (10, 0, 0, 28)
    assert (p["tpr"], p["fpr"], p["precision"]) == (1.0, 0.0, 1.0)
    assert len(p["edges"]) == 10 and all(len(e) == 4 for e in p["edges"])
    roc = data["roc"]
    assert roc[0] == {"threshold": None, "fpr": 0.0, "tpr": 0.0, "precision": 1.0, "n_edges": None}
    assert roc[-1]["threshold"] is None and (roc[-1]["fpr"], roc[-1]["tpr"]) == (1.0, 1.0)
    assert [r["threshold"] for r in roc[1:-1]] == [0.1, 1e-2, 1e-6]


def test_cli_sweep_on_a_task_without_ground_truth(small_task_dir, tmp_path, capsys):
    out = tmp_path / "s.json"
    assert main(["sweep", "--task-dir", str(small_task_dir), "--logspace", "-2,-1,2", "--quiet", "--ascii", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    note = [l for l in captured.err.splitlines() if "ground-truth" in l]
    assert len(note) == 1 and "no ground-truth circuit" in note[0] and "without ROC curve or AUC" in note[0]
    data = read_sweep(out)
    assert data["roc"] is None and data["auc"] is None and data["summary"]["ground_truth_edges"] is None
    assert [p["threshold"] for p in data["points"]] == [0.1, 0.01] and data["points"][0]["tpr"] is None
    assert "ROC" not in captured.out and "edges kept vs threshold" in captured.out
    captured.out.encode("ascii")  # --ascii: plain ASCII plots


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--thresholds", "0.1,abc"], "'abc' is not a number"),
        (["--thresholds", "0.1,,0.01"], "give comma-separated numbers"),
        (["--thresholds", "nan"], "not a finite number"),
        (["--logspace", "-6,0"], "give LO,HI,N"),
        (["--logspace", "a,0,3"], "LO and HI must be numbers"),
        (["--logspace", "-6,0,2.5"], "N must be a whole number"),
        (["--logspace", "-6,0,0"], "N must be at least 1"),
        (["--thresholds", "0.1", "--threshold", "0.1"], "sweep does not take --threshold"),
        (["--thresholds", "0.1", "--log", "x.log"], "sweep does not take --log"),
        ([], "one of the arguments --thresholds --logspace --top-k is required"),
        (["--thresholds", "0.1", "--logspace", "-2,-1,2"], "not allowed with argument"),
    ],
)
def test_bad_grids_are_one_line_errors(args, needle, capsys):
    assert main(["sweep", "--task", "tracr-proportion", *args]) != 0
    err = capsys.readouterr().err.strip()
    assert needle in err and "Traceback" not in err and len(err.splitlines()) == 1, err


def test_grid_parsing():
    assert parse_logspace("-6,0,7") == [1.0, 0.1, 0.01, 0.001, 1e-4, 1e-5, 1e-6]
    assert parse_logspace("-3,-3,1") == [1e-3]
    assert parse_logspace("0,-1,3") == [1.0, float(f"{10 ** -0.5:.12g}"), 0.1]
    assert parse_thresholds("0.01, 1e-6,0.01,0") == [0.01, 1e-6, 0.0]  # sorted decreasing, duplicates dropped
    with pytest.raises(UserError):
        parse_thresholds("")


def test_report_and_plots(tmp_path):
    exp = experiment("tracr-proportion", threshold=1e-1, ablation=Ablation.ZERO)
    result = run_sweep(exp, [1e-1, 1e-6], stderr=io.StringIO())
    text = format_report(result)
    assert "1.000" in text and "●" in text and "full model 0" in text
    ascii_text = format_report(result, ascii=True)
    ascii_text.encode("ascii")
    assert "AUC (edges, the paper's pessimistic Pareto staircase): 1.000 over 2 thresholds" in ascii_text


def test_text_plot_falls_back_to_ascii():
    class Stream(io.StringIO):
        encoding = "ascii"

    assert wants_ascii(Stream()) and not wants_ascii(io.TextIOWrapper(io.BytesIO(), encoding="utf-8"))
    text = plot([Series([(0, 0), (0.5, 1), (1, 1)], step=True)], x_range=(0, 1), y_range=(0, 1), width=20, height=5, ascii=True)
    assert text.splitlines() == [
        "  1 +          o--------o",
        "    |          |",
        "0.5 +          |",
        "    |          |",
        "  0 +o----------",
        "    +--------------------",
        "    0       0.5         1",
    ]


def test_every_point_of_a_sweep_is_journaled_and_exportable(tmp_path, capsys):
    from acdc_tui.cli.main import main

    journal, out = tmp_path / "sweep.journal", tmp_path / "sweep.json"
    assert main(["sweep", "--task", "tracr-proportion", "--zero-ablation", "--thresholds", "0.1,1e-6", "--with-edges", "--quiet", "--out", str(out), "--journal", str(journal)]) == 0
    points = orjson.loads(out.read_bytes())["points"]
    for k, point in enumerate(points, 1):
        assert main(["export", str(journal), "--run", str(k), "--out", str(tmp_path / f"p{k}.json")]) == 0
        exported = orjson.loads((tmp_path / f"p{k}.json").read_bytes())
        kept = sorted([e["sender"]["hook"], e["sender"]["head"], e["receiver"]["hook"], e["receiver"]["head"]] for e in exported["edges"] if e["present"] and e["type"] != "placeholder")
        assert kept == sorted(point["edges"]) and exported["settings"]["threshold"] == point["threshold"]
    assert main(["export", str(journal), "--run", "3", "--out", str(tmp_path / "p3.json")]) == 2
