"""Attribution scores (EAP, EAP-IG) against central finite differences in float64: each score is the
derivative of the metric as the receiver's input moves along the sender's `ablated - clean` (for a
DIRECT edge, the q/k/v along its own), on the clean run (EAP) or averaged over EAP-IG's interpolated
runs. A GPT-2-style model with MLPs and a grouped-query Llama checkpoint; corrupted, zero and mean
ablation; and the vanishing EAP of metrics minimal on the clean run."""

from __future__ import annotations

import math

import pytest
import torch

import tasks
from acdc_tui.core.ablation import Ablation
from acdc_tui.core.graph import EdgeType, GraphSpec, build_graph
from acdc_tui.engines.attribution import Method, attribute, differentiable_metric
from acdc_tui.engines.patching import ablated_activations, index_of, patch_data
from acdc_tui.models import backend
from tests.hf_families import write_checkpoint, write_tokens

EPS = 1e-5


def next_token_logprob(clean_logits: torch.Tensor):
    """A metric whose gradient does not vanish on the clean run: minus the mean log-probability of
    the clean run's own top next tokens."""
    target = clean_logits.argmax(-1)

    def metric(logits: torch.Tensor) -> torch.Tensor:
        return -logits.log_softmax(-1).gather(-1, target[..., None]).mean()

    return metric


@pytest.fixture(scope="module")
def llama_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("llama") / "llama"
    write_checkpoint(d, "llama")
    return write_tokens(d)


def _setup(task):
    return build_graph(GraphSpec.from_config(task.model.cfg, use_pos_embed=task.use_pos_embed))


def _finite_difference(task, graph, metric, edge, values, overrides):
    """d/dε of the metric with the receiver's input moved by ε (ablated - clean) of the source."""
    source = edge.sender if edge.type is EdgeType.ADDITION else edge.receiver
    ablated, clean = values
    d = ablated[source.name][index_of(source)] - clean[source.name][index_of(source)]
    where = index_of(edge.receiver)

    def at(eps: float) -> float:
        def shift(x, hook):
            x = x.clone()
            x[where] += eps * d
            return x

        hooks = [(n, (lambda v: lambda x, hook: v)(v)) for n, v in overrides.items()] + [(edge.receiver.name, shift)]
        return float(metric(backend.logits(task.model, task.clean, hooks)))

    return (at(EPS) - at(-EPS)) / (2 * EPS)


def _check(task, metric, method, zero=False, mean=False, edges=None):
    graph = _setup(task)
    ablation = Ablation.of(zero, mean)
    got = attribute(task.model, graph, task.clean, None if zero else task.corrupted, metric, method, steps=3, ablation=ablation)
    patch = patch_data(task.clean, None if zero else task.corrupted, ablation)
    ablated = ablated_activations(task.model, graph, patch, ablation, False)
    clean = backend.capture(task.model, task.clean, set(graph.hook_names()))
    inputs = [n.name for n in graph.input_nodes]
    alphas = [None] if method is Method.EAP else [0.0, 1 / 3, 2 / 3]
    checked = 0
    for edge in edges or graph.tested_edges:
        want = 0.0
        for alpha in alphas:
            overrides = {} if alpha is None else {n: ablated[n] + alpha * (clean[n] - ablated[n]) for n in inputs}
            want += _finite_difference(task, graph, metric, edge, (ablated, clean), overrides) / len(alphas)
        score = got.scores[edge.key]
        assert math.isclose(score, want, rel_tol=1e-5, abs_tol=1e-8), f"{edge}: {method.value} score {score}, finite differences {want}"
        checked += abs(want) > 1e-6
    assert checked >= len(edges or graph.tested_edges) // 2, "most edges must matter, or the check is empty"
    return got


@pytest.mark.parametrize("zero, mean", [(False, False), (True, False), (False, True)], ids=["corrupted", "zero", "mean"])
def test_eap_is_the_metric_derivative_along_each_edge(small_task_dir, zero, mean):
    task = tasks.load_task(None, str(small_task_dir), "cpu", torch.float64)
    metric = differentiable_metric(next_token_logprob, task.model, task.clean)
    got = _check(task, metric, Method.EAP, zero, mean)
    assert not got.vanishing and got.steps == 1


def test_eap_ig_is_the_mean_derivative_along_the_input_path(small_task_dir):
    task = tasks.load_task(None, str(small_task_dir), "cpu", torch.float64)
    metric = differentiable_metric(task.metrics["kl"], task.model, task.clean)
    assert _check(task, metric, Method.EAP_IG).steps == 3


@pytest.mark.parametrize("method", list(Method))
def test_grouped_query_attention_edges(llama_dir, method):
    """Edges into key/value heads shared by a group of query heads, and their direct edges."""
    task = tasks.load_task(None, str(llama_dir), "cpu", torch.float64)
    factory = next_token_logprob if method is Method.EAP else task.metrics["kl"]
    metric = differentiable_metric(factory, task.model, task.clean)
    graph = _setup(task)
    kv = [e for e in graph.tested_edges if e.receiver.kind in ("k_input", "v_input", "k", "v")]
    others = [e for e in graph.tested_edges if e not in kv][::3]
    assert kv and graph.spec.kv_heads < graph.spec.n_heads
    _check(task, metric, method, edges=kv + others)


def test_eap_vanishes_where_the_metric_is_minimal_and_eap_ig_does_not(small_task_dir):
    """KL against the clean outputs is 0 and flat on the clean run: EAP says nothing there."""
    task = tasks.load_task(None, str(small_task_dir), "cpu", torch.float64)
    graph = _setup(task)
    metric = differentiable_metric(task.metrics["kl"], task.model, task.clean)
    eap = attribute(task.model, graph, task.clean, task.corrupted, metric, Method.EAP)
    ig = attribute(task.model, graph, task.clean, task.corrupted, metric, Method.EAP_IG)
    assert eap.vanishing and eap.gradient_ratio < 1e-6
    assert max(abs(v) for v in eap.scores.values()) < 1e-12
    assert not ig.vanishing and max(abs(v) for v in ig.scores.values()) > 1e-3
    assert list(ig.scores) == [e.key for e in graph.tested_edges]


def test_a_wrong_sender_fails_the_check(small_task_dir, monkeypatch):
    """The finite-difference check is not empty: scores taken against another sender's delta fail it."""
    from acdc_tui.engines import attribution

    real = attribution._edge_scores

    def swapped(graph, grads, clean, ablated):
        scores = real(graph, grads, clean, ablated)
        keys = list(scores)
        return dict(zip(keys, list(scores.values())[1:] + list(scores.values())[:1]))

    monkeypatch.setattr(attribution, "_edge_scores", swapped)
    task = tasks.load_task(None, str(small_task_dir), "cpu", torch.float64)
    metric = differentiable_metric(next_token_logprob, task.model, task.clean)
    with pytest.raises(AssertionError):
        _check(task, metric, Method.EAP)
