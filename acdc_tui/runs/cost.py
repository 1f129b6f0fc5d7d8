"""What a run will cost, before it runs (`acdc-tui plan`): the graph's size, memory, time.

Memory. Predicted from the shapes first (so that a run that cannot fit is told so before anything
large is allocated): the loaded process, plus the fast engine's caches, about ENGINE_UNITS copies of
every sender's output (S senders x batch x positions x d_model; measured at GPT-2 scale:
`benchmarks/gpt2_scale.py --memory gpt2-small`), plus one evaluation's working set, about
FORWARD_UNITS more. When that fits, the engine is built for real and the figure is the measured
one: the resident memory (CPU) or the allocated device memory (CUDA) after setup and after a few
real evaluations from the lowest layer, the costliest, where the peak of a run is reached.

Time. Seconds per tested edge per layer, calibrated by timing a few real evaluations of edges into
each layer's receivers on this machine and device (the fast engine's incremental forward from the
clean reference state, without touching its memo or reference, so a later run's decisions are
unaffected). An edge into a lower layer costs more: everything downstream that reads it is
recomputed. The time if every edge were tested is the sum over layers; a run tests only the edges
into receivers still connected to the output, so the typical range counts 3 to 12 tests per receiver
in each layer, at most its edges (TYPICAL_TESTS_PER_RECEIVER, from the measured runs in docs/cost.md).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from acdc_tui.core.errors import UserError

ENGINE_UNITS = 7.5  # fast engine caches, in units of S x B x P x D x element bytes (7.0 measured on gpt2-small)
FORWARD_UNITS = 1.5  # one evaluation's working set on top (activations of every recomputed stage)
# A run tests the edges into receivers still connected to the output: in every layer of a GPT-2-shaped
# run about 3-8 tests per receiver (300-670 per layer, 86 receivers), every edge of a small model's
# lower layers. The typical range: between 3 and 12 tests per receiver per layer, at most its edges.
TYPICAL_TESTS_PER_RECEIVER = (3, 12)
MEMORY_ENV = "ACDC_TUI_MEMORY_LIMIT"
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 2**10, "kib": 2**10, "m": 2**20, "mb": 2**20, "mib": 2**20, "g": 2**30, "gb": 2**30, "gib": 2**30, "t": 2**40, "tb": 2**40, "tib": 2**40}


def parse_size(text: str, what: str = "--memory-limit") -> int:
    """`8GiB`, `512M`, `1.5g`, `1000000` (bytes) -> bytes."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise UserError(f"{what} {text!r} is not a size: give e.g. 8GiB, 512MiB or a number of bytes")
    value = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if value <= 0:
        raise UserError(f"{what} {text!r} must be more than zero")
    return value


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def _status_bytes(field: str) -> int | None:
    """A size field of /proc/self/status (Linux: kiB there) in bytes, else None."""
    try:
        m = re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text())
    except OSError:
        return None
    return int(m.group(1)) * 1024 if m else None


def process_rss() -> int | None:
    """This process's resident memory in bytes (Linux), else None."""
    return _status_bytes("VmRSS")


def process_peak() -> int | None:
    """This process's peak resident memory in bytes (Linux), else None."""
    return _status_bytes("VmHWM")


def reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def available_memory(device: str, limit: int | None) -> tuple[int | None, str]:
    """The memory a run may use, and where that figure comes from: --memory-limit / $ACDC_TUI_MEMORY_LIMIT,
    else the device's total memory (CUDA) or this process's resident memory plus what the system has available."""
    if limit is not None:
        return limit, "--memory-limit"
    env = os.environ.get(MEMORY_ENV)
    if env:
        return parse_size(env, f"${MEMORY_ENV}"), f"${MEMORY_ENV}"
    if device.startswith("cuda"):
        import torch

        free, total = torch.cuda.mem_get_info(torch.device(device))
        return total, "the GPU's memory"
    try:
        m = re.search(r"MemAvailable:\s+(\d+)", Path("/proc/meminfo").read_text())
    except OSError:
        return None, "unknown"
    return (int(m.group(1)) * 1024 + (process_rss() or 0)) if m else None, "available system memory"


@dataclass
class Plan:
    nodes: int
    edges_total: int  # every edge of the graph, placeholders included
    edges_tested: int  # edges ACDC decides
    layers: dict[int, dict] = field(default_factory=dict)  # layer -> nodes, edges (tested, into its receivers), seconds_per_tested_edge
    model_bytes: int = 0
    engine_bytes: int | None = None
    memory_peak_bytes: int | None = None
    memory_measured: bool = False
    memory_available: int | None = None
    memory_source: str = ""
    fits: bool = True
    advice: str | None = None
    seconds_per_tested_edge: float | None = None  # mean over the graph's tested edges
    seconds_all_edges: float | None = None
    seconds_typical: tuple[float, float] | None = None
    calibration_evaluations: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    engine: str = "fast"
    senders: int = 0
    batch: int = 0
    positions: int = 0
    d_model: int = 0

    def to_json(self) -> dict:
        return {
            "nodes": self.nodes, "edges_total": self.edges_total, "edges_tested": self.edges_tested,
            "layers": {str(k): v for k, v in sorted(self.layers.items())},
            "model_bytes": self.model_bytes, "engine_bytes": self.engine_bytes, "memory_peak_bytes": self.memory_peak_bytes,
            "memory_measured": self.memory_measured, "memory_available_bytes": self.memory_available, "memory_available_source": self.memory_source,
            "fits": self.fits, "advice": self.advice,
            "seconds_per_tested_edge": self.seconds_per_tested_edge, "seconds_all_edges": self.seconds_all_edges,
            "seconds_typical": list(self.seconds_typical) if self.seconds_typical else None,
            "calibration_evaluations": self.calibration_evaluations,
            "device": self.device, "dtype": self.dtype, "engine": self.engine,
            "shape": {"senders": self.senders, "batch": self.batch, "positions": self.positions, "d_model": self.d_model},
        }


def graph_layers(graph) -> dict[int, dict]:
    """Per layer (the output counts as layer n_layers): its nodes and the tested edges into its receivers."""
    from acdc_tui.runs.progress import edge_layer

    n = graph.spec.n_layers
    layers: dict[int, dict] = {}
    for node in graph.nodes:
        layer = n if node.layer is None and node.kind == "output" else node.layer
        if layer is None:
            layer = -1  # the inputs (embeddings)
        layers.setdefault(layer, {"nodes": 0, "edges": 0})["nodes"] += 1
    receivers: dict[int, set] = {}
    for e in graph.tested_edges:
        layer = edge_layer(e, n)
        layers.setdefault(layer, {"nodes": 0, "edges": 0})["edges"] += 1
        receivers.setdefault(layer, set()).add(e.receiver)
    for layer, nodes in receivers.items():
        layers[layer]["receivers"] = len(nodes)
    return layers


def model_bytes(model) -> int:
    return sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))


def senders_count(graph) -> int:
    from acdc_tui.core.graph import EdgeType

    return len({e.sender for e in graph.edges if e.type is EdgeType.ADDITION})


def predict(task, graph, settings, limit: int | None) -> Plan:
    """The shapes' prediction (nothing large allocated yet)."""
    cfg = task.model.cfg
    B, P = task.clean.shape
    element = task.clean.new_zeros((), dtype=next(task.model.parameters()).dtype).element_size()
    S = senders_count(graph)
    unit = S * B * P * cfg.d_model * element
    plan = Plan(nodes=len(graph.nodes), edges_total=len(graph.edges), edges_tested=len(graph.tested_edges), layers=graph_layers(graph),
                device=settings.device, dtype=settings.dtype, engine=settings.engine, senders=S, batch=B, positions=P, d_model=cfg.d_model)
    plan.model_bytes = model_bytes(task.model)
    plan.engine_bytes = int(ENGINE_UNITS * unit)
    base = plan.model_bytes if settings.device.startswith("cuda") else (process_rss() or plan.model_bytes)
    plan.memory_peak_bytes = int(base + (ENGINE_UNITS + FORWARD_UNITS) * unit)
    plan.memory_available, plan.memory_source = available_memory(settings.device, limit)
    if plan.memory_available is not None and plan.memory_peak_bytes > plan.memory_available:
        plan.fits = False
        per_row = (ENGINE_UNITS + FORWARD_UNITS) * unit / B
        rows = int((plan.memory_available - base) // per_row) if plan.memory_available > base else 0
        options = []
        if 0 < rows < B:
            options.append(f"--task-dir data of at most {rows} rows (now {B})")
        if element > 4:
            options.append("--dtype float32 (half the memory)")
        options.append("the --prefilter eap:0.9 (a tenth of the tests, not the reference algorithm)")
        if rows <= 0 and element <= 4:
            options.insert(0, "a machine or device with more memory (the model alone does not leave room)")
        where = "the GPU" if settings.device.startswith("cuda") else "memory"
        plan.advice = (f"will not fit: predicted peak {fmt_bytes(plan.memory_peak_bytes)} > {fmt_bytes(plan.memory_available)} of {where} "
                       f"({plan.memory_source}); what would: {'; '.join(options)}")
    return plan


CALIBRATION_BUDGET_S = 5.0  # seconds of timed evaluations, after which the layers not timed are interpolated


def bisection_order(layers: list[int]) -> list[int]:
    """The top and bottom layers first, then midpoints, so that a budget cut short still spans the model."""
    if len(layers) <= 2:
        return list(layers)
    order, spans = [layers[0], layers[-1]], [(0, len(layers) - 1)]
    while spans:
        low, high = spans.pop(0)
        if high - low < 2:
            continue
        middle = (low + high) // 2
        order.append(layers[middle])
        spans += [(low, middle), (middle, high)]
    return order


def interpolate(costs: dict[int, float], layers: list[int]) -> dict[int, float]:
    """Every layer's cost: timed ones as they are, the others linear between the nearest timed layers (a
    test's cost from the clean state grows about linearly with the layers below the output: GPT-2 small
    84 ms at layer 11 to 2,301 ms at layer 0, in even steps)."""
    timed = sorted(costs)
    out = {}
    for layer in layers:
        below = max((t for t in timed if t <= layer), default=None)
        above = min((t for t in timed if t >= layer), default=None)
        if below is None or above is None or below == above:
            out[layer] = costs[below if below is not None else above]
        else:
            share = (layer - below) / (above - below)
            out[layer] = costs[below] + share * (costs[above] - costs[below])
    return out


def calibrate(exp, plan: Plan, per_layer: int = 3, budget_s: float = CALIBRATION_BUDGET_S) -> Plan:
    """Time up to `per_layer` real evaluations of edges into each layer's receivers, the top and bottom layers
    first and then midpoints, until `budget_s` is spent; the layers not timed are interpolated."""
    import torch

    from acdc_tui.runs.progress import edge_layer

    engine, graph = exp.run.engine, exp.graph
    n = graph.spec.n_layers
    cuda = plan.device.startswith("cuda")
    by_layer: dict[int, list] = {}
    for e in graph.tested_edges:
        by_layer.setdefault(edge_layer(e, n), []).append(e)
    fast = getattr(engine, "fallback", "none") is None and hasattr(engine, "_forward")

    def one(edge) -> None:
        absent = {edge.receiver: frozenset({edge.sender})}
        if fast:
            engine._forward([absent])  # from the reference state; no memo, no new reference
        else:
            engine.evaluate({r: set(a) for r, a in absent.items()})

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    layers = sorted(by_layer, reverse=True)
    timed: dict[int, float] = {}
    with torch.inference_mode():
        one(by_layer[layers[0]][0])  # warm-up (first-call allocations, kernel choice)
        sync()
        began = time.perf_counter()
        for layer in bisection_order(layers):
            if len(timed) >= 2 and time.perf_counter() - began > budget_s:
                break
            edges = by_layer[layer]
            picks = [edges[(i * len(edges)) // per_layer] for i in range(min(per_layer, len(edges)))]
            start = time.perf_counter()
            for e in picks:
                one(e)
            sync()
            timed[layer] = (time.perf_counter() - start) / len(picks)
            plan.calibration_evaluations += len(picks)
    costs = interpolate(timed, layers)
    for layer in layers:
        row = plan.layers.setdefault(layer, {"nodes": 0, "edges": len(by_layer[layer])})
        row["seconds_per_tested_edge"], row["timed"] = costs[layer], layer in timed
    total_edges = sum(len(by_layer[layer]) for layer in layers)
    plan.seconds_all_edges = sum(costs[layer] * len(by_layer[layer]) for layer in layers)
    plan.seconds_per_tested_edge = plan.seconds_all_edges / total_edges if total_edges else None
    plan.seconds_typical = typical_range(plan.layers)
    return plan


def typical_range(layers: dict[int, dict]) -> tuple[float, float]:
    """Seconds for a typical run: 3 to 12 tests per receiver in each layer (at most its edges). The high
    end at each layer's calibrated cost, a test from the clean state, where everything downstream is
    recomputed; the low end at the cheapest layer's, what a test costs when little downstream still
    reads the edge (a sparse circuit: GPT-2 small's tests into layers 11-5 cost 62-106 ms in a run,
    against 84-1,295 ms calibrated; docs/cost.md)."""
    rows = [row for row in layers.values() if row.get("edges") and row.get("seconds_per_tested_edge") is not None]
    if not rows:
        return (0.0, 0.0)
    cheapest = min(row["seconds_per_tested_edge"] for row in rows)
    low, high = TYPICAL_TESTS_PER_RECEIVER
    return (sum(min(row["edges"], low * row.get("receivers", 0)) * cheapest for row in rows),
            sum(min(row["edges"], high * row.get("receivers", 0)) * row["seconds_per_tested_edge"] for row in rows))


def make_plan(task, settings, limit: int | None, calibrate_per_layer: int = 3) -> Plan:
    """The shapes' prediction; where it fits, the engine built and measured, and the time calibrated."""
    import torch

    from acdc_tui.core.graph import GraphSpec, build_graph
    from acdc_tui.runs.experiment import prepare

    graph = build_graph(GraphSpec.from_config(task.model.cfg, use_pos_embed=task.use_pos_embed))
    plan = predict(task, graph, settings, limit)
    if not plan.fits:
        return plan
    cuda = settings.device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
    else:
        before = process_rss() or 0
    exp = prepare(task, settings)
    if cuda:
        torch.cuda.synchronize()
        after = torch.cuda.memory_allocated()
    else:
        after = process_rss() or 0
    plan.engine_bytes = max(0, after - before)
    calibrate(exp, plan, calibrate_per_layer)
    if cuda:
        plan.memory_peak_bytes = int(torch.cuda.max_memory_allocated())
    else:
        peak = process_peak()
        plan.memory_peak_bytes = peak if peak is not None else plan.memory_peak_bytes
    plan.memory_measured = True
    if plan.memory_available is not None and plan.memory_peak_bytes > plan.memory_available:
        plan.fits = False
        plan.advice = (f"will not fit: measured peak {fmt_bytes(plan.memory_peak_bytes)} > {fmt_bytes(plan.memory_available)} ({plan.memory_source}); "
                       "what would: fewer rows of data, --dtype float32, or the --prefilter")
    return plan
