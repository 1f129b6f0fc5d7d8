"""ROC points and AUC on hand-made edge sets, with the reference implementation's conventions."""

from __future__ import annotations

import math

import pytest

from acdc_tui.analysis.roc import Confusion, RocPoint, auc, confusion, pareto_front, pessimistic_auc, roc_points, staircase

UNIVERSE = frozenset(f"e{i}" for i in range(10))  # the tested edges
TRUTH = frozenset({"e0", "e1", "e2", "e3"})  # 4 positives, 6 negatives


def test_confusion_counts_only_tested_edges():
    c = confusion({"e0", "e1", "e5", "placeholder"}, TRUTH | {"another placeholder"}, UNIVERSE)
    assert c == Confusion(tp=2, fp=1, fn=2, tn=5)
    assert c.tpr == 0.5 and c.fpr == 1 / 6 and c.precision == 2 / 3 and c.recovered == 3


def test_empty_recovery_has_precision_one():
    c = confusion(set(), TRUTH, UNIVERSE)
    assert (c.tpr, c.fpr, c.precision) == (0.0, 0.0, 1.0)


def test_points_are_sorted_by_decreasing_threshold_with_end_points():
    runs = [(1e-3, {"e0", "e1", "e4"}), (1e-1, {"e0"}), (1e-6, set(UNIVERSE))]
    pts = roc_points(runs, TRUTH, UNIVERSE)
    assert [p.threshold for p in pts] == [math.inf, 1e-1, 1e-3, 1e-6, -math.inf]
    assert [(p.fpr, p.tpr) for p in pts] == [(0.0, 0.0), (0.0, 0.25), (1 / 6, 0.5), (1.0, 1.0), (1.0, 1.0)]
    assert pts[0] == RocPoint(math.inf, 0.0, 0.0, 1.0, None) and pts[-1] == RocPoint(-math.inf, 1.0, 1.0, 0.0, None)
    assert [p.n_edges for p in pts[1:-1]] == [1, 3, 10]


def test_the_reference_pessimistic_auc_cases():
    # The assertions that follow the reference's `pessimistic_auc` (acdc/acdc_graphics.py).
    assert pessimistic_auc([(0, 0), (1, 1)]) == 0.0
    assert pessimistic_auc([(0, 0), (0.5, 0.5), (1, 1)]) == 0.5**2
    assert pessimistic_auc([(0, 0), (0.25, 0.25), (1, 1)]) == 0.25 * 0.75
    assert pessimistic_auc([(0, 0), (0.25, 0.25), (0.5, 0.5), (1, 1)]) == 5 / 16
    assert pessimistic_auc([(0, 0), (0.25, 0.25), (0.75, 0.5), (1, 1)]) == 4 / 16


def test_auc_reproduces_the_papers_tracr_numbers_from_its_own_points():
    """The reference's stored ROC points (experiments/results/plots_data) give Table 3's AUCs."""
    proportion = [RocPoint(math.inf, 0, 0, 1), RocPoint(1e-2, 0, 0.6, 1), RocPoint(1e-3, 17 / 28, 0.8, 0.32), RocPoint(-math.inf, 1, 1, 0)]
    assert auc(proportion) == pytest.approx(0.6 + (1 - 17 / 28) * 0.2) and round(auc(proportion), 3) == 0.679
    reverse = [RocPoint(math.inf, 0, 0, 1), RocPoint(1e-2, 0, 0.2, 1), RocPoint(-math.inf, 1, 1, 0)]
    assert auc(reverse) == pytest.approx(0.2)


def test_perfect_recovery_gives_auc_one():
    pts = roc_points([(1e-6, set(TRUTH)), (1e-1, {"e0"})], TRUTH, UNIVERSE)
    assert auc(pts) == 1.0


def test_dominated_points_are_dropped_before_integrating():
    # (0.5, 0.5) is beaten by (1/6, 0.75): lower FPR and higher TPR.
    front = pareto_front([(0, 0), (0.5, 0.5), (1 / 6, 0.75), (1, 1)])
    assert front == [(0, 0), (1 / 6, 0.75), (1, 1)]
    runs = [(1e-1, {"e0", "e1", "e2", "e4"}), (1e-2, {"e0", "e1", "e4", "e5", "e6"})]
    pts = roc_points(runs, TRUTH, UNIVERSE)
    assert auc(pts) == pytest.approx((1 - 1 / 6) * 0.75)


def test_equal_fpr_points_count_their_highest_tpr():
    runs = [(1e-1, {"e0"}), (1e-2, {"e0", "e1"}), (1e-3, {"e0", "e1", "e2", "e7", "e8", "e9"})]
    pts = roc_points(runs, TRUTH, UNIVERSE)
    # (0, .25), (0, .5), (.5, .75), (1, 1): 0.5 * 1 + 0.25 * 0.5 + 0.25 * 0
    assert auc(pts) == pytest.approx(0.625)


def test_staircase_goes_right_then_up():
    pts = roc_points([(1e-1, {"e0", "e1", "e4"})], TRUTH, UNIVERSE)
    assert staircase(pts) == [(0.0, 0.0), (1 / 6, 0.0), (1 / 6, 0.5), (1.0, 0.5), (1.0, 1.0)]


def test_undefined_rates_are_refused():
    with pytest.raises(ValueError, match="no tested edge"):
        roc_points([(0.1, set())], frozenset({"outside"}), UNIVERSE)
    with pytest.raises(ValueError, match="every tested edge"):
        roc_points([(0.1, set())], UNIVERSE, UNIVERSE)
    with pytest.raises(ValueError, match="Pareto"):
        pessimistic_auc([(0, 0), (0.5, 0.8), (0.6, 0.4)])
