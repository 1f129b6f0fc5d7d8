"""Progress of a run: edges decided / total, rate, ETA from a per-layer cost model.

ACDC walks the graph from the output down, and an edge into a lower layer costs more to test (the
fast engine recomputes everything downstream that still reads the recomputed sender): on GPT-2
small, edges into layers 11-10 are tested at about 10 a second, into layers 1-0 at under 2. A
decision-rate ETA measured on the upper layers is therefore several times too short (the explorer
said two minutes for a 16-minute run). `LayerCosts` keeps, per receiver layer, the measured seconds
per tested edge and the edges still undecided; the ETA is

    sum over layers of  (tests still to come in the layer) x (seconds per tested edge there)

where a layer not reached yet costs what the model of costs says: the lowest layer measured so far,
scaled by the ratio of the calibrated costs (`acdc-tui plan`'s timing of real evaluations, when
given) or by the measured growth per layer down. The same model serves the headless progress line
and the run's status snapshot (`eta`), so the explorer shows the same figure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import IO, Callable, Mapping


def format_duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds == float("inf"):
        return "--:--"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


MAX_GROWTH = 1.6  # at most this much dearer per layer down (GPT-2-shaped runs: about 1.4)


def decided_keys(run) -> list:
    """The keys of a run's edges decided already (a resumed run starts with some)."""
    return [key for key, record in run.records.items() if record.decided_by is not None]


def edge_layer(edge, n_layers: int) -> int:
    """The layer an edge is charged to: its receiver's (the output: `n_layers`, above the last block)."""
    layer = edge.receiver.layer
    return n_layers if layer is None else layer


class LayerCosts:
    """Per receiver layer: tested edges left, seconds spent testing, edges tested; and the ETA they give."""

    def __init__(self, left: Mapping[int, int], n_layers: int, prior: Mapping[int, float] | None = None) -> None:
        self.left = dict(left)  # layer -> tested edges not decided yet
        self.n_layers = n_layers
        self.prior = dict(prior or {})  # layer -> calibrated seconds per tested edge (acdc-tui plan)
        self.spent: dict[int, float] = {}
        self.count: dict[int, int] = {}
        self.decided = 0  # edges decided by a test, a force or a skip
        self.tests = 0  # of them, tested (a skipped node's edges cost nothing)

    @classmethod
    def of_graph(cls, graph, decided=(), prior: Mapping[int, float] | None = None) -> "LayerCosts":
        """The graph's tested edges per layer, less the keys in `decided` (a resumed run's)."""
        n = graph.spec.n_layers
        decided = set(decided)
        left: dict[int, int] = {}
        for e in graph.tested_edges:
            if e.key not in decided:
                layer = edge_layer(e, n)
                left[layer] = left.get(layer, 0) + 1
        return cls(left, n, prior)

    def decided_edges(self, edges, tested_seconds: float | None = None) -> None:
        """Edges just decided; with `tested_seconds`, one edge tested in that time."""
        edges = [e for e in edges if e.tested]
        for e in edges:
            layer = edge_layer(e, self.n_layers)
            if self.left.get(layer, 0) > 0:
                self.left[layer] -= 1
            self.decided += 1
        if tested_seconds is not None and edges:
            layer = edge_layer(edges[0], self.n_layers)
            self.spent[layer] = self.spent.get(layer, 0.0) + max(tested_seconds, 0.0)
            self.count[layer] = self.count.get(layer, 0) + 1
            self.tests += 1

    def cost(self, layer: int) -> float | None:
        """Seconds per tested edge into `layer`: measured there, else extrapolated down from the layers measured."""
        if self.count.get(layer, 0) >= 3:
            return self.spent[layer] / self.count[layer]
        measured = sorted((l for l, c in self.count.items() if c >= 3), reverse=True)
        if not measured:
            if self.prior.get(layer):
                return self.prior[layer]
            total = sum(self.count.values())
            return sum(self.spent.values()) / total if total else None
        # the measured layer nearest to `layer` (ACDC goes down: usually the lowest measured so far)
        near = min(measured, key=lambda l: (abs(l - layer), l))
        base = self.spent[near] / self.count[near]
        if self.prior.get(layer) and self.prior.get(near):
            return base * self.prior[layer] / self.prior[near]
        if layer < near and len(measured) >= 2:
            return base * self.growth(measured) ** (near - layer)
        return base

    def growth(self, measured: list[int]) -> float:
        """Cost ratio per layer down: a least-squares line through log(cost) over the layers measured
        (weighted by their tests), between 1 and MAX_GROWTH."""
        import math

        points = [(l, math.log(self.spent[l] / self.count[l]), self.count[l]) for l in measured if self.spent[l] > 0]
        weight = sum(w for _, _, w in points)
        if len(points) < 2 or weight <= 0:
            return 1.0
        mx = sum(l * w for l, _, w in points) / weight
        my = sum(y * w for _, y, w in points) / weight
        var = sum(w * (l - mx) ** 2 for l, _, w in points)
        if var <= 0:
            return 1.0
        slope = sum(w * (l - mx) * (y - my) for l, y, w in points) / var
        return min(max(math.exp(-slope), 1.0), MAX_GROWTH)

    def expected_tests(self, layer: int) -> float:
        """Tests still to come in `layer`. A layer's tests are its edges into receivers still connected to
        the output: few of many edges high up, most of few edges low down, about as many per layer
        (GPT-2-shaped runs: 300-670 in every layer). So: a layer not reached yet, as many as the mean of
        the layers finished (at most its edges left); the layer under way, what that mean leaves of it;
        before any layer is finished, the share of decisions so far that were tests."""
        left = self.left.get(layer, 0)
        if left <= 0:
            return 0.0
        finished = [self.count.get(l, 0) for l, n in self.left.items() if n <= 0 and self.count.get(l, 0) > 0]
        if not finished:
            return left * self.tests / max(self.decided, 1)
        mean = sum(finished) / len(finished)
        return float(min(left, max(mean - self.count.get(layer, 0), 0.0)))

    def remaining(self) -> float | None:
        """Seconds left: over the layers, the tests still to come x the cost per tested edge there."""
        if self.tests == 0:
            return None
        total = 0.0
        for layer, n in self.left.items():
            if n > 0:
                tests = self.expected_tests(layer)
                if tests <= 0:
                    continue
                c = self.cost(layer)
                if c is None:
                    return None
                total += tests * c
        return total

    def snapshot(self) -> dict:
        """Per layer, for status snapshots: edges left, measured seconds per tested edge (None: not measured yet)."""
        return {str(l): {"left": self.left.get(l, 0), "cost": (self.spent[l] / self.count[l]) if self.count.get(l) else None}
                for l in sorted(set(self.left) | set(self.count))}


@dataclass
class Progress:
    total: int
    clock: Callable[[], float] = time.monotonic
    done: int = 0
    tested: int = 0  # forward passes spent on edges (skipped edges cost none)
    costs: LayerCosts | None = None  # the per-layer cost model; without it, the ETA is the decision rate's
    start: float = field(init=False)

    def __post_init__(self) -> None:
        self.start = self.clock()
        self._last = self.start

    @property
    def elapsed(self) -> float:
        return self.clock() - self.start

    @property
    def rate(self) -> float:
        """Edges tested per second."""
        e = self.elapsed
        return self.tested / e if e > 0 else 0.0

    def on_event(self, event) -> None:
        """Count a decision event (EdgeTested, EdgeForced, NodeSkipped, EdgesPrefiltered) and charge its time."""
        from acdc_tui.core.events import EdgeForced, EdgesPrefiltered, EdgeTested, NodeSkipped

        now = self.clock()
        if isinstance(event, (EdgeTested, EdgeForced, NodeSkipped, EdgesPrefiltered)):
            self.done = event.done
        if isinstance(event, (EdgeTested, EdgeForced)):
            self.tested += 1
            if self.costs is not None:
                self.costs.decided_edges([event.edge], now - self._last)
            self._last = now
        elif isinstance(event, (NodeSkipped, EdgesPrefiltered)):
            if self.costs is not None:
                self.costs.decided_edges(list(event.removed))
            self._last = now

    def resume_timer(self) -> None:
        """After a pause: the next tested edge is charged from now."""
        self._last = self.clock()

    @property
    def eta(self) -> float | None:
        """Seconds left: the per-layer cost model's when there is one, else from the decision rate so far."""
        e = self.elapsed
        if self.done == 0 or e <= 0:
            return None
        if self.costs is not None:
            left = self.costs.remaining()
            if left is not None:
                return left
        return (self.total - self.done) * e / self.done

    def line(self, kept: int | None = None, metric: float | None = None) -> str:
        width = len(str(self.total))
        pct = 100.0 * self.done / self.total if self.total else 100.0
        parts = [f"[{self.done:>{width}}/{self.total}] {pct:5.1f}%", f"{self.rate:7.1f} edges/s", f"elapsed {format_duration(self.elapsed)}", f"ETA {format_duration(self.eta)}"]
        if kept is not None:
            parts.append(f"kept {kept}")
        if metric is not None:
            parts.append(f"metric {metric:.6g}")
        return "  ".join(parts)


class ProgressLine:
    """Live progress on a terminal (one rewritten line), a line every few seconds otherwise."""

    def __init__(self, stream: IO[str], progress: Progress, first_line_now: bool = True) -> None:
        self.stream, self.progress = stream, progress
        self.tty = stream.isatty()
        self.interval = 0.1 if self.tty else 5.0
        self._last = float("-inf") if first_line_now else time.monotonic()

    def update(self, kept: int, metric: float | None, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        text = self.progress.line(kept, metric)
        self.stream.write(f"\r\x1b[2K{text}" if self.tty else text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
