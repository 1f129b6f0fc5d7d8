"""The per-layer ETA (runs/progress.py): lower layers cost more per edge, and the ETA charges them so."""

from __future__ import annotations

from acdc_tui.runs.progress import LayerCosts


class _Node:
    def __init__(self, layer):
        self.layer = layer


class _Edge:
    tested = True

    def __init__(self, layer):
        self.receiver = _Node(layer)


def test_eta_uses_each_layers_cost_and_extrapolates_down():
    costs = LayerCosts({3: 10, 2: 10, 1: 10, 0: 10}, n_layers=4)
    for layer, seconds in ((3, 1.0), (2, 1.5)):  # every edge of layers 3 and 2 tested; 1.5x dearer per layer down
        for _ in range(10):
            costs.decided_edges([_Edge(layer)], seconds)
    assert costs.cost(3) == 1.0 and costs.cost(2) == 1.5
    assert abs(costs.cost(1) - 2.25) < 1e-9 and abs(costs.cost(0) - 3.375) < 1e-9  # the measured growth, continued
    assert abs(costs.remaining() - (10 * 2.25 + 10 * 3.375)) < 1e-9  # as many tests per layer as the finished layers had


def test_eta_with_a_calibrated_prior_scales_the_nearest_measured_layer():
    costs = LayerCosts({1: 5, 0: 5}, n_layers=2, prior={1: 0.1, 0: 0.3})
    for _ in range(5):
        costs.decided_edges([_Edge(1)], 0.2)  # measured twice the calibration
    assert abs(costs.cost(0) - 0.6) < 1e-12
    assert abs(costs.remaining() - 5 * 0.6) < 1e-12


def test_skipped_edges_cost_nothing_and_tests_per_layer_are_bounded():
    costs = LayerCosts({1: 100, 0: 100}, n_layers=2)
    for _ in range(10):
        costs.decided_edges([_Edge(1)], 1.0)
    costs.decided_edges([_Edge(1)] * 90)  # a skipped node's edges: decided, untested
    assert costs.left[1] == 0
    assert costs.remaining() is not None and costs.remaining() <= 100 * 1.0
