"""Circuit diff: the library result and the `acdc-tui diff` command."""

from __future__ import annotations

import pytest

from acdc_tui.cli.main import main
from acdc_tui.core.errors import UserError
from acdc_tui.io.diff import DiffSide, EdgeState, diff_circuits
from acdc_tui.io.writer import write_circuit_as
from acdc_tui.runs.experiment import to_circuit
from tests.helpers import experiment


@pytest.fixture(scope="module")
def two_thresholds(small_task_dir):
    """One model, two τ: the same graph, different circuits."""
    out = []
    for tau in (0.005, 0.05):
        exp = experiment(task_dir=small_task_dir, threshold=tau)
        list(exp.run.events())
        kept = {r.edge.key for r in exp.run.records.values() if r.present and r.edge.tested}
        out.append((to_circuit(exp, 0.0, True), kept, exp.run.records))
    return out


def test_a_circuit_against_itself_is_empty(two_thresholds):
    c, kept, _ = two_thresholds[0]
    d = diff_circuits(c, c)
    assert d.identical and not d.only_a and not d.only_b
    assert {r.edge.key for r in d.both} == kept and d.jaccard == 1.0


def test_two_thresholds_match_set_differences(two_thresholds):
    (a, kept_a, records_a), (b, kept_b, records_b) = two_thresholds
    assert kept_a != kept_b  # the test needs a real difference
    d = diff_circuits(a, b)
    assert {r.edge.key for r in d.only_a} == kept_a - kept_b
    assert {r.edge.key for r in d.only_b} == kept_b - kept_a
    assert {r.edge.key for r in d.both} == kept_a & kept_b
    assert d.n_tested == len(records_a) - sum(not r.edge.tested for r in records_a.values())
    for row in d.rows(DiffSide.ONLY_A) + d.rows(DiffSide.ONLY_B) + d.rows(DiffSide.BOTH):
        ra, rb = records_a[row.edge.key], records_b[row.edge.key]
        assert row.a == EdgeState(ra.present, ra.delta, ra.decided_by, ra.pinned, ra.forced)
        assert row.b == EdgeState(rb.present, rb.delta, rb.decided_by, rb.pinned, rb.forced)
    assert d.jaccard == pytest.approx(len(kept_a & kept_b) / len(kept_a | kept_b))
    assert d.summary().startswith(f"A keeps {len(kept_a)} and B keeps {len(kept_b)} of {d.n_tested} tested edges")


def test_circuits_of_different_models_are_refused(two_thresholds):
    exp = experiment("tracr-proportion", threshold=0.1)
    list(exp.run.events())
    with pytest.raises(UserError, match="are circuits of different graphs .*; diff compares two circuits of one model"):
        diff_circuits(two_thresholds[0][0], to_circuit(exp, 0.0, True))


def test_the_diff_command(two_thresholds, tmp_path, capsys):
    (a, kept_a, _), (b, kept_b, _) = two_thresholds
    fa, fb = write_circuit_as(a, tmp_path / "a.json"), write_circuit_as(b, tmp_path / "b.eap.json", "eap")
    assert main(["diff", str(fa), str(fa)]) == 0
    assert "Summary: A keeps" in capsys.readouterr().out
    assert main(["diff", str(fa), str(tmp_path / "b.json")]) == 2  # a missing file: one line, status 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    write_circuit_as(b, tmp_path / "b.json")
    assert main(["diff", str(fa), str(tmp_path / "b.json")]) == 1  # different circuits: status 1, as diff(1)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"A: {fa} (acdc-tui circuit JSON)"
    only_a = lines.index(f"Only in A ({len(kept_a - kept_b)} edge{'' if len(kept_a - kept_b) == 1 else 's'}):")
    first = lines[only_a + 1]
    assert "A: kept (test)" in first and "B: removed (" in first and "Δ " in first
    assert lines[-1].startswith("Summary: ") and f"{len(kept_a & kept_b)} in both" in lines[-1]
    assert main(["diff", "--changes-only", str(fa), str(fb)]) in (0, 1)  # against the EAP-IG export of B
    out = capsys.readouterr().out
    assert "(EAP-IG graph JSON)" in out and "In both" not in out
