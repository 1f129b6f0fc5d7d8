"""MIB's faithfulness of circuits of many sizes, and its two areas (Mueller et al. 2025, circuit track).

For a circuit C of the graph's tested edges, with m the task's metric,

    f(C) = (m(C) - m(∅)) / (m(N) - m(∅))

where N is the full model and ∅ the empty circuit (every tested edge ablated): 1 means the circuit
does what the model does, 0 what nothing does, whatever the metric's sign. Over circuits of growing
edge fraction x = edges / tested edges (the points of a sweep over τ, or of attribution's top-k),
CPR is the area under f(x) (higher is better) and CMD the area under |1 - f(x)| (lower is better),
by trapezoids as MIB computes them. The curve runs from the empty circuit (x = 0, f = 0) to the full
model (x = 1, f = 1), both true by definition, through every finished point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class FaithfulnessPoint:
    edges: int
    edge_fraction: float
    faithfulness: float | None  # None: the metric is unknown or not finite


@dataclass(frozen=True)
class FaithfulnessCurve:
    points: tuple[FaithfulnessPoint, ...]  # the sweep's points, in its order
    cpr: float | None
    cmd: float | None
    note: str | None = None  # why there are no areas


def faithfulness(metric: float | None, full: float, empty: float) -> float | None:
    if metric is None or not math.isfinite(metric):
        return None
    return (metric - empty) / (full - empty) + 0.0  # (+ 0.0: no "-0")


def curve(sizes: Sequence[tuple[int, float | None]], edges_total: int, full: float | None, empty: float | None) -> FaithfulnessCurve:
    """(edges kept, circuit metric) per point -> f per point, CPR and CMD."""
    if full is None or empty is None or not (math.isfinite(full) and math.isfinite(empty)):
        return FaithfulnessCurve((), None, None, "no faithfulness: the full model's or the empty circuit's metric is unknown")
    if full == empty:
        return FaithfulnessCurve((), None, None, f"no faithfulness: the full model and the empty circuit have the same metric ({full:.6g})")
    points = tuple(FaithfulnessPoint(n, n / edges_total if edges_total else 0.0, faithfulness(m, full, empty)) for n, m in sizes)
    known = sorted((p.edge_fraction, p.faithfulness) for p in points if p.faithfulness is not None)
    if not known:
        return FaithfulnessCurve(points, None, None, "no faithfulness areas: no point has a finite metric")
    xy = [(0.0, 0.0), *known, (1.0, 1.0)]
    cpr = sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(xy, xy[1:]))
    cmd = sum((x1 - x0) * (abs(1 - y0) + abs(1 - y1)) / 2 for (x0, y0), (x1, y1) in zip(xy, xy[1:]))
    return FaithfulnessCurve(points, cpr, cmd)


def format_faithfulness(c: FaithfulnessCurve, ascii: bool = False, width: int = 50, height: int = 12) -> str:
    """The areas, and f against the edge fraction as a terminal plot."""
    from acdc_tui.analysis.text_plot import Series, plot

    if c.cpr is None:
        return (c.note or "no faithfulness") + "\n"
    known = sorted((p.edge_fraction, p.faithfulness) for p in c.points if p.faithfulness is not None)
    lows = [y for _, y in known] + [0.0, 1.0]
    one = Series([(i / (width - 1), 1.0) for i in range(width)], marker=".")  # f = 1: the full model's behaviour
    chart = plot(
        [one, Series([(0.0, 0.0), *known, (1.0, 1.0)])],
        x_range=(0.0, 1.0), y_range=(min(lows), max(lows)), width=width, height=height, ascii=ascii,
        title="faithfulness f = (m(C) - m(empty)) / (m(full) - m(empty))", y_label="f", x_label="edge fraction",
    )
    return chart + f"faithfulness (MIB): CPR (area under f) {c.cpr:.4f}, CMD (area under |1 - f|) {c.cmd:.4f}\n"
