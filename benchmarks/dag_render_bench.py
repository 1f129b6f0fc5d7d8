"""Time `render_dag` / `render_circuit` on graphs of the sizes the TUI re-renders live.

Run: .venv/bin/python benchmarks/dag_render_bench.py
"""

from __future__ import annotations

import random
import time

from acdc_tui.core.graph import EdgeType, GraphSpec, build_graph
from acdc_tui.ui.dag_render import render_circuit, render_dag


def random_dag(seed: int, n: int, m: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    edges: set[tuple[str, str]] = set()
    while len(edges) < m:
        a, b = sorted(rng.sample(range(n), 2))
        edges.add((f"n{a}", f"n{b}"))
    return sorted(edges)


def best_ms(fn, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1e3


def main() -> None:
    for n, m in [(30, 100), (100, 300), (100, 500)]:
        edges = random_dag(0, n, m)
        d = render_dag(edges)
        print(f"random DAG       {n:4d} nodes {m:5d} edges: {best_ms(lambda: render_dag(edges)):7.1f} ms  ({len(d.lines)} lines x {d.width} cols)")
    for layers, heads, frac in [(2, 4, 1.0), (4, 8, 0.1), (6, 8, 0.05), (12, 12, 0.01)]:
        g = build_graph(GraphSpec(n_layers=layers, n_heads=heads))
        rng = random.Random(0)
        present = [e for e in g.edges if e.type is EdgeType.PLACEHOLDER or rng.random() < frac]
        d = render_circuit(g, present)
        nodes = len({x for e in present for x in (e.sender, e.receiver)})
        ms = best_ms(lambda: render_circuit(g, present))
        print(f"circuit {layers:2d}L x {heads:2d}H {nodes:4d} nodes {len(present):5d} edges: {ms:7.1f} ms  ({len(d.lines)} lines x {d.width} cols)")


if __name__ == "__main__":
    main()
