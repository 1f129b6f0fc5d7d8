"""Edge-level ROC curves and AUC against a ground-truth circuit, with the ACDC paper's conventions.

Pure functions over sets of edge keys; nothing here runs a model. The conventions are those of
the reference implementation (Conmy et al. 2023: `acdc_utils.get_edge_stats`,
`notebooks/roc_plot_generator.get_points`, `notebooks/make_plotly_plots.py`,
`acdc_graphics.pessimistic_auc`):

* Only non-placeholder (tested) edges count. Placeholder edges (a head's q/k/v -> result, an
  MLP's in -> out) are structural and are neither positives nor negatives.
* TPR = TP / (TP + FN), FPR = FP / (FP + TN); precision = TP / recovered, or 1 when nothing
  was recovered.
* One point per threshold; the curve gets the end points (FPR, TPR) = (0, 0) at τ = +inf
  (nothing kept) and (1, 1) at τ = -inf (everything kept).
* The AUC is taken over the Pareto-optimal points only (a point is dropped when another has a
  strictly lower FPR and a strictly higher TPR), as a pessimistic staircase: the curve moves right
  first and then up ("hv"), so each rise dy at FPR x adds (1 - x) * dy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import AbstractSet, Hashable, Iterable, Sequence

EdgeKey = Hashable  # in practice (sender hook, head, receiver hook, head)


@dataclass(frozen=True)
class Confusion:
    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def recovered(self) -> int:
        return self.tp + self.fp

    @property
    def tpr(self) -> float:
        pos = self.tp + self.fn
        return self.tp / pos if pos else math.nan

    @property
    def fpr(self) -> float:
        neg = self.fp + self.tn
        return self.fp / neg if neg else math.nan

    @property
    def precision(self) -> float:
        return self.tp / self.recovered if self.recovered else 1.0


@dataclass(frozen=True)
class RocPoint:
    threshold: float  # +inf and -inf for the added end points
    fpr: float
    tpr: float
    precision: float
    n_edges: int | None = None  # tested edges kept; None for the added end points


def confusion(found: AbstractSet[EdgeKey], truth: AbstractSet[EdgeKey], universe: AbstractSet[EdgeKey]) -> Confusion:
    """Counts over `universe` (the tested edges); edges of `found` or `truth` outside it are ignored."""
    f, t = found & universe, truth & universe
    tp = len(f & t)
    fp = len(f) - tp
    fn = len(t) - tp
    return Confusion(tp, fp, fn, len(universe) - tp - fp - fn)


def roc_points(
    runs: Iterable[tuple[float, AbstractSet[EdgeKey]]], truth: AbstractSet[EdgeKey], universe: AbstractSet[EdgeKey]
) -> list[RocPoint]:
    """(threshold, edges found) per run -> points by decreasing threshold, end points included."""
    if not truth & universe:
        raise ValueError("the ground truth has no tested edge: TPR is undefined")
    if not universe - truth:
        raise ValueError("the ground truth holds every tested edge: FPR is undefined")
    points = [RocPoint(math.inf, 0.0, 0.0, 1.0)]
    for threshold, found in sorted(runs, key=lambda r: r[0], reverse=True):
        c = confusion(found, truth, universe)
        points.append(RocPoint(threshold, c.fpr, c.tpr, c.precision, c.recovered))
    points.append(RocPoint(-math.inf, 1.0, 1.0, 0.0))
    return points


def pareto_front(xy: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats with a strictly lower x and a strictly higher y, sorted."""
    return sorted({(x, y) for x, y in xy if not any(x1 < x and y1 > y for x1, y1 in xy)})


def pessimistic_auc(xy: Sequence[tuple[float, float]]) -> float:
    """Area under the staircase through the points (sorted by x, then y), right first then up.

    The y values must not decrease once sorted (true of a Pareto front)."""
    pts = sorted(xy)
    area = 0.0
    for (_, y0), (x1, y1) in zip(pts, pts[1:]):
        if y1 < y0:
            raise ValueError("y decreases along the curve: take the Pareto front first")
        area += (1.0 - x1) * (y1 - y0)
    return area


def auc(points: Sequence[RocPoint]) -> float:
    """The paper's edge-level AUC of a ROC curve (see the module docstring)."""
    return pessimistic_auc(pareto_front([(p.fpr, p.tpr) for p in points]))


def staircase(points: Sequence[RocPoint]) -> list[tuple[float, float]]:
    """The vertices of the curve the AUC integrates (Pareto front, right then up), for plotting."""
    front = pareto_front([(p.fpr, p.tpr) for p in points])
    out = front[:1]
    for x, y in front[1:]:
        if x != out[-1][0]:
            out.append((x, out[-1][1]))
        out.append((x, y))
    return out
