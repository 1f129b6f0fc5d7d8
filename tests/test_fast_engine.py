"""The fast engine against the plain one, side by side in float64: the same edges tested in the
same order, the same decisions, the same deltas (1e-9 relative), the same final circuit; with
pins and force-prunes queued mid-run (also on decided edges) and stepping interleaved."""

from __future__ import annotations

import math
import random

import pytest
import torch

import tasks
from acdc_tui.core.ablation import Ablation
from acdc_tui.core.events import EdgeForced, EdgeTested, OverrideApplied
from acdc_tui.core.graph import GraphSpec, build_graph
from acdc_tui.engines.fast import FastEngine
from acdc_tui.engines.plain import PlainEngine
from acdc_tui.models import backend
from acdc_tui.runs.experiment import Settings, prepare
from tests.conftest import ATTN_ONLY_CONFIG, write_task_dir

REL, ABS = 1e-9, 1e-12
ATTN4_CONFIG = {**ATTN_ONLY_CONFIG, "n_layers": 4, "n_heads": 8, "d_model": 24, "d_head": 3, "d_vocab": 20}


@pytest.fixture(scope="module")
def attn4_task_dir(tmp_path_factory):
    return write_task_dir(tmp_path_factory.mktemp("attn4") / "attn4", ATTN4_CONFIG, seed=3, batch=3, pos=5)


def _task(source, request):
    """A task: given, a builtin task by name, or a task-directory fixture by name."""
    if not isinstance(source, str):
        return source
    if source.endswith("_task_dir"):
        return tasks.load_task(None, str(request.getfixturevalue(source)), "cpu", torch.float64)
    return tasks.load_task(source, None, "cpu", torch.float64)


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=REL, abs_tol=ABS)


def _drive(exp, plan, tested_edges) -> list:
    """Run `exp` through `plan` (stepping and commands), then to the end; the events, as comparable tuples."""
    run, out = exp.run, []
    for action, arg in plan:
        if action == "edge":
            evs = [ev for _ in range(arg) for ev in run.step_edge()]
        elif action == "node":
            evs = [ev for _ in range(arg) for ev in run.step_node()]
        elif action == "step":
            evs = [run.step() for _ in range(arg) if not run.finished]
        elif action == "pin":
            run.pin(tested_edges[arg % len(tested_edges)])
            evs = []
        elif action == "force":
            run.force_prune(tested_edges[arg % len(tested_edges)])
            evs = []
        elif action == "clear":
            run.clear_override(tested_edges[arg % len(tested_edges)])
            evs = []
        else:
            raise AssertionError(action)
        out += evs
    out += list(run.events())
    return out


def _row(ev) -> tuple:
    if isinstance(ev, EdgeTested):
        return ("tested", ev.edge.key, ev.removed, ev.pinned, ev.old_metric, ev.new_metric, ev.delta)
    if isinstance(ev, EdgeForced):
        return ("forced", ev.edge.key, None, None, ev.old_metric, ev.new_metric, ev.delta)
    if isinstance(ev, OverrideApplied):
        return ("override", ev.edge.key, ev.live, ev.present, ev.old_metric, ev.current_metric, None)
    return (type(ev).__name__, getattr(ev, "node", None), None, None, None, None, None)


def compare_engines(source, request, threshold, zero=False, abs_value=False, plan=(), metric=None, mean=False) -> int:
    """Plain and fast runs, event by event; returns the number of edges tested."""
    task = _task(source, request)
    runs = []
    for engine in ("plain", "fast"):
        settings = Settings(threshold=threshold, metric=metric, ablation=Ablation.of(zero, mean), abs_value_threshold=abs_value, engine=engine, dtype="float64")
        exp = prepare(task, settings)
        assert exp.run.engine.name == engine
        if engine == "fast":
            assert exp.run.engine.fallback is None, exp.run.engine.fallback_reason
        runs.append((exp, _drive(exp, plan, exp.graph.tested_edges)))
    (pe, plain), (fe, fast) = runs
    for i, (a, b) in enumerate(zip(map(_row, plain), map(_row, fast))):
        where = f"event {i}: plain {a}, fast {b}"
        assert a[:4] == b[:4], f"different event, edge or decision at {where}"
        assert all(_close(x, y) for x, y in zip(a[4:], b[4:])), f"different metric or delta at {where}"
    assert len(plain) == len(fast), f"plain had {len(plain)} events, fast {len(fast)}"
    assert {k for k, r in pe.run.records.items() if r.present} == {k for k, r in fe.run.records.items() if r.present}
    assert _close(pe.run.current_metric, fe.run.current_metric)
    tested = [ev for ev in plain if isinstance(ev, EdgeTested)]
    assert any(ev.removed for ev in tested) and not all(ev.removed for ev in tested), "a threshold that keeps some edges and removes others"
    return len(tested)


SOURCES = ["tracr-reverse", "tracr-proportion", "small_task_dir", "attn4_task_dir"]
CASES = [
    ("tracr-reverse", 0.01, False, False),
    ("tracr-reverse", 1e-6, True, False),
    ("tracr-reverse", 0.1, False, True),
    ("tracr-proportion", 0.01, False, False),
    ("tracr-proportion", 1e-6, True, False),
    ("small_task_dir", 0.005, False, False),
    ("small_task_dir", 0.02, False, False),
    ("small_task_dir", 0.012, True, True),
    ("small_task_dir", 0.005, True, False),
    ("attn4_task_dir", 0.003, False, False),
    ("attn4_task_dir", 0.003, True, False),
]


@pytest.mark.parametrize("source, threshold, zero, abs_value", CASES, ids=[f"{s}-{t}{'-zero' if z else ''}{'-abs' if a else ''}" for s, t, z, a in CASES])
def test_same_decisions_straight_through(source, threshold, zero, abs_value, request):
    compare_engines(source, request, threshold, zero, abs_value)


# Mean ablation: thresholds between the 50th and 90th percentile of the Δs under it
MEAN_CASES = [("tracr-reverse", 0.01), ("tracr-proportion", 1e-4), ("small_task_dir", 0.005), ("attn4_task_dir", 0.003)]


@pytest.mark.parametrize("source, threshold", MEAN_CASES, ids=[f"{s}-{t}" for s, t in MEAN_CASES])
def test_same_decisions_under_mean_ablation(source, threshold, request):
    compare_engines(source, request, threshold, mean=True)
    compare_engines(source, request, threshold, mean=True, plan=PLAN[:6])


def test_mean_ablation_patches_in_the_per_position_mean(small_task_dir):
    """An absent edge under mean ablation gives the receiver the patch run's batch mean of the sender,
    at each position, checked with hand-built hooks on the plain engine."""
    from acdc_tui.core.graph import Node

    task = tasks.load_task(None, str(small_task_dir), "cpu", torch.float64)
    graph, plain, _ = _engines(task, mean=True)
    sender, receiver = Node("blocks.0.attn.hook_result", 1), Node("blocks.1.hook_mlp_in")
    patch = backend.capture(task.model, task.corrupted, {sender.name})[sender.name][:, :, 1]  # [batch, pos, d_model]
    online: dict = {}

    def save(x, hook):
        online["result"] = x[:, :, 1].clone()

    def swap(x, hook):
        return x - online["result"] + patch.mean(0, keepdim=True)

    want = backend.logits(task.model, task.clean, [(sender.name, save), (receiver.name, swap)])
    torch.testing.assert_close(plain.logits({receiver: {sender}}), want, rtol=1e-12, atol=1e-12)
    assert not torch.allclose(plain.logits({receiver: {sender}}), backend.logits(task.model, task.clean))


# Stepping interleaved with commands; edges named by their index in the graph's tested-edge order.
# Early indices are decided by the time the commands run (overrides live), late ones are not yet.
PLAN = [
    ("edge", 5), ("pin", 1), ("force", 40), ("node", 3), ("step", 4), ("force", 2), ("pin", 60),
    ("edge", 7), ("clear", 1), ("node", 2), ("pin", 3), ("edge", 3),
]


@pytest.mark.parametrize("source, threshold, zero", [("tracr-reverse", 0.01, False), ("tracr-proportion", 1e-6, True), ("small_task_dir", 0.005, False), ("small_task_dir", 0.005, True), ("attn4_task_dir", 0.003, False)])
def test_same_decisions_with_overrides_and_stepping(source, threshold, zero, request):
    compare_engines(source, request, threshold, zero, plan=PLAN)


def test_kl_metric_on_tracr_proportion(request):
    compare_engines("tracr-proportion", request, 1e-4, metric="kl")


def test_an_engine_serves_several_runs(small_task_dir):
    """A threshold sweep builds runs over one engine: each must equal a run on a fresh plain engine."""
    task = tasks.load_task(None, str(small_task_dir), "cpu", torch.float64)
    fast = prepare(task, Settings(threshold=0.005, dtype="float64"))
    from acdc_tui.runs.experiment import new_run

    for tau in (0.005, 0.05, 0.001):
        run = new_run(fast, tau)
        got = [(ev.edge.key, ev.removed, ev.delta) for ev in run.events() if isinstance(ev, EdgeTested)]
        ref = prepare(task, Settings(threshold=tau, engine="plain", dtype="float64"))
        want = [(ev.edge.key, ev.removed, ev.delta) for ev in ref.run.events() if isinstance(ev, EdgeTested)]
        assert [g[:2] for g in got] == [w[:2] for w in want]
        assert all(_close(g[2], w[2]) for g, w in zip(got, want))


def _engines(task, zero=False, metric=None, mean=False):
    graph = build_graph(GraphSpec.from_config(task.model.cfg, use_pos_embed=task.use_pos_embed))
    metric = metric or task.metric()[1]
    args = (task.model, graph, task.clean, None if zero else task.corrupted, metric)
    kw = dict(ablation=Ablation.of(zero, mean), scramble_positions=task.scramble_patch_positions)
    return graph, PlainEngine(*args, **kw), FastEngine(*args, **kw)


def _random_absent(graph, rng, p):
    absent: dict = {}
    for e in graph.tested_edges:
        if rng.random() < p:
            absent.setdefault(e.receiver, set()).add(e.sender)
    return absent


@pytest.mark.parametrize("source", SOURCES)
def test_forward_pass_equals_the_model(source, request):
    """With a metric that reads every position, the engine's clean logits are the model's own."""
    task = _task(source, request)
    _, _, fast = _engines(task, metric=lambda logits: logits.sum())
    assert fast.fallback is None
    want = backend.logits(task.model, task.clean)
    assert fast.ref_logits.shape == want.shape
    assert torch.allclose(fast.ref_logits, want, rtol=0, atol=1e-12 * max(1.0, float(want.abs().max())))


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("ablation", ["corrupted", "zero", "mean"])
def test_random_absent_maps(source, ablation, request):
    """Arbitrary absent-edge maps, in a random order (the reference state moves around): same logits."""
    task = _task(source, request)
    graph, plain, fast = _engines(task, ablation == "zero", mean=ablation == "mean")
    rng = random.Random(7)
    for _ in range(12):
        absent = _random_absent(graph, rng, rng.random())
        want = plain.logits(absent)[:, fast.positions]
        scale = max(1.0, float(want.abs().max()))
        assert torch.allclose(fast.logits(absent), want, rtol=0, atol=1e-10 * scale)
        assert _close(fast.evaluate(absent), plain.evaluate(absent))


def test_the_comparison_catches_a_wrong_mask(small_task_dir, request, monkeypatch):
    """A fast engine that forgets one absent sender per receiver must fail the side-by-side check."""
    from acdc_tui.engines.fast.layout import Layout

    real = Layout.row_mask

    def forgetful(self, receiver, absent):
        return real(self, receiver, frozenset(sorted(absent)[1:]))

    monkeypatch.setattr(Layout, "row_mask", forgetful)
    with pytest.raises(AssertionError):
        compare_engines("small_task_dir", request, 0.005)


def test_the_comparison_catches_wrong_attention(request, monkeypatch):
    """An attention without its causal mask must fail too (the start-up self-check sends it to plain)."""
    from acdc_tui.engines import fast_forward

    monkeypatch.setattr(fast_forward.Weights, "attention", lambda self, l, q, k, v: torch.bmm(torch.softmax(torch.bmm(q, k.transpose(1, 2)), -1), v))
    with pytest.raises(AssertionError):
        compare_engines("small_task_dir", request, 0.005)


def test_a_forward_pass_that_differs_falls_back_to_the_plain_engine(small_task_dir, monkeypatch):
    """The start-up self-check: a hand-written forward pass whose clean logits are not the model's
    sends the engine to the plain one, which then answers every evaluation."""
    from acdc_tui.engines import fast_forward

    monkeypatch.setattr(fast_forward.Weights, "mlp", lambda self, layer, x: torch.zeros_like(x))
    task = tasks.load_task(None, str(small_task_dir), "cpu", torch.float64)
    graph, plain, fast = _engines(task)
    assert fast.fallback is not None and "differs from the model's" in fast.fallback_reason
    absent = _random_absent(graph, random.Random(1), 0.5)
    assert fast.evaluate(absent) == plain.evaluate(absent)


def test_speculation_is_used():
    """Most edges are answered from the speculative batch: far fewer forwards than evaluations."""
    task = tasks.load_task("tracr-reverse", None, "cpu", torch.float64)
    exp = prepare(task, Settings(threshold=0.01, dtype="float64"))
    exp.run.engine.width = 16  # the default on CPU is 1 (no speculation)
    list(exp.run.events())
    eng = exp.run.engine
    assert eng.forwards < 0.75 * eng.evaluations
