"""Metric is a small dataclass: the function on logits, the positions it reads, the same metric on
logits cut down to them. The fast engine reads those fields, and a plain function reads every position."""

from __future__ import annotations

import torch

import tasks
from acdc_tui.core.metrics import Metric, answer_metric, kl_divergence, l2
from tests.test_fast_engine import _engines, _random_absent


def _logits(seed: int) -> torch.Tensor:
    return torch.randn(3, 5, 7, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_each_factory_says_what_it_reads_and_reads_only_that():
    clean, patched = _logits(0), _logits(1)
    answers, wrong = torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6])
    for metric, positions in [
        (kl_divergence(clean), (-1,)),
        (kl_divergence(clean, positions=[1, 3]), (1, 3)),
        (l2(clean), None),
        (answer_metric(clean, "logit_diff", answers, wrong), (-1,)),
    ]:
        assert isinstance(metric, Metric) and metric.positions == positions
        selected = patched if positions is None else patched[:, list(positions)]
        assert float(metric(patched)) == float(metric.on_selected(selected)) != 0.0


def test_a_plain_function_is_a_metric_that_reads_every_position():
    def top_logit(logits: torch.Tensor) -> torch.Tensor:
        return logits.max(-1).values.mean()

    metric = Metric.of(top_logit)
    assert metric.positions is None and metric.on_selected is None and float(metric(_logits(2))) == float(top_logit(_logits(2)))
    assert Metric.of(metric) is metric


def test_the_fast_engine_takes_a_plain_function_as_a_whole_sequence_metric(small_task_dir):
    import random

    task = tasks.load_task(None, str(small_task_dir), "cpu", torch.float64)
    clean = task.model(task.clean)

    def distance(logits: torch.Tensor) -> torch.Tensor:
        return ((logits - clean) ** 2).mean()

    graph, plain, fast = _engines(task, metric=distance)
    assert fast.fallback is None and fast.positions == list(range(task.clean.shape[1]))
    rng = random.Random(0)
    for _ in range(5):
        absent = _random_absent(graph, rng, 0.3)
        assert abs(fast.evaluate(absent) - plain.evaluate(absent)) <= 1e-9 * max(1.0, abs(plain.evaluate(absent)))
