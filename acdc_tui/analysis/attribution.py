"""Attribution beside exact ACDC: where does the cheap estimate disagree with the exact decision?

Pure functions over attribution scores (engines/attribution.py, or a scores file) and what ACDC did
with each tested edge (a finished run, or a circuit file):

* Spearman's rank correlation between |score| and |Δ| over the edges ACDC measured (tested or
  force-pruned; skipped and prefiltered edges have no Δ), ties given their average rank;
* how many of the k edges ACDC kept fall outside attribution's top k by |score|;
* a per-edge disagreement, for marking edges in the explorer: how far below the top k attribution
  ranks an edge ACDC kept, or how far inside it an edge ACDC removed, as a fraction of tested edges
  (0 where they agree).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Iterable, Mapping, Sequence

EdgeKey = Hashable  # an Edge's key, (sender Node, receiver Node)


@dataclass(frozen=True)
class Outcome:
    """What ACDC did with one tested edge."""

    key: EdgeKey
    delta: float | None  # None: removed without measuring (skipped, prefiltered) or undecided
    kept: bool


@dataclass(frozen=True)
class Comparison:
    measured: int  # edges with a Δ and a score
    spearman: float | None  # ρ(|score|, |Δ|); None when either side is constant or too few edges
    kept: int  # k: tested edges ACDC kept
    outside_top_k: int  # of those, how many attribution does not rank in its top k
    disagreement: dict[EdgeKey, float]  # every tested edge -> 0 (agree) .. 1


def outcomes_of_circuit(circuit) -> list[Outcome]:
    """From an io.circuit.Circuit (tested edges only)."""
    return [Outcome((e.sender, e.receiver), e.delta if e.decided_by in ("test", "forced") else None, e.present) for e in circuit.edges if e.type.value != "placeholder"]


def outcomes_of_run(run) -> list[Outcome]:
    """From a core AcdcRun's records (tested edges only)."""
    return [Outcome(r.edge.key, r.delta if r.decided_by in ("test", "forced") else None, r.present) for r in run.records.values() if r.edge.tested]


def average_ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for m in range(i, j + 1):
            ranks[order[m]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's correlation of the average ranks; None when undefined."""
    if len(xs) < 2:
        return None
    rx, ry = average_ranks(xs), average_ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx, syy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else None


def attribution_ranks(scores: Mapping[EdgeKey, float]) -> dict[EdgeKey, int]:
    """1 for the largest |score|; ties in the mapping's (graph) order."""
    order = sorted(enumerate(scores), key=lambda item: (-abs(scores[item[1]]), item[0]))
    return {key: rank for rank, (_, key) in enumerate(order, 1)}


def top_k(scores: Mapping[EdgeKey, float], k: int) -> list[EdgeKey]:
    ranks = attribution_ranks(scores)
    return sorted((key for key in scores if ranks[key] <= k), key=ranks.__getitem__)


def compare(scores: Mapping[EdgeKey, float], outcomes: Iterable[Outcome]) -> Comparison:
    outcomes = [o for o in outcomes if o.key in scores]
    measured = [o for o in outcomes if o.delta is not None and math.isfinite(o.delta)]
    rho = spearman([abs(scores[o.key]) for o in measured], [abs(o.delta) for o in measured])
    ranks = attribution_ranks({o.key: scores[o.key] for o in outcomes})
    n, k = len(outcomes), sum(o.kept for o in outcomes)
    disagreement = {}
    for o in outcomes:
        rank = ranks[o.key]
        off = rank - k if o.kept else k - rank + 1  # kept but ranked below the top k / removed but inside it
        disagreement[o.key] = max(0, off) / n
    outside = sum(1 for o in outcomes if o.kept and ranks[o.key] > k)
    return Comparison(len(measured), rho, k, outside, disagreement)


def most_disagreeing(c: Comparison, n: int = 10) -> list[tuple[EdgeKey, float]]:
    return sorted(((key, d) for key, d in c.disagreement.items() if d > 0), key=lambda item: -item[1])[:n]


def format_comparison(c: Comparison, label: str = "ACDC", n: int = 5) -> str:
    rho = "undefined (constant scores or Δs)" if c.spearman is None else f"{c.spearman:.3f}"
    lines = [
        f"beside {label}: Spearman rank correlation of |score| and |Δ|: {rho} over {c.measured} measured edges",
        f"{c.outside_top_k} of the {c.kept} edges ACDC kept fall outside attribution's top {c.kept}",
    ]
    worst = most_disagreeing(c, n)
    if worst:
        lines.append("most disagreeing (kept but ranked low, or removed but ranked high):")
        lines += [f"  {s.label} -> {r.label}: {d:.3f}" for (s, r), d in worst]
    return "\n".join(lines) + "\n"
