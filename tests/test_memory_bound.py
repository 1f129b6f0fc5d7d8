"""Memory does not grow with the number of decisions (issue 19). The fast engine once kept every
forward pass's activations alive in a reference cycle (a self-calling closure) until the cyclic
garbage collector ran; at GPT-2 scale that was 10 GiB. With the collector off, the worst case, the
tensors alive after N and after 4N tested edges must weigh the same."""

from __future__ import annotations

import gc
import warnings

import pytest
import torch

import tasks
from acdc_tui.core.events import EdgeTested
from acdc_tui.runs.experiment import Settings, prepare
from tests.conftest import write_task_dir

CONFIG = {"n_layers": 3, "n_heads": 4, "d_model": 32, "d_head": 8, "d_mlp": 64, "d_vocab": 30, "n_ctx": 16,
          "act_fn": "gelu", "normalization_type": "LN"}
N = 40


def _live_tensor_bytes() -> int:
    """Bytes of every distinct tensor storage the garbage collector can see (cyclic garbage included)."""
    seen: dict[int, int] = {}
    with warnings.catch_warnings():  # isinstance on some of torch's deprecated module attributes warns
        warnings.simplefilter("ignore")
        objects = [obj for obj in gc.get_objects() if isinstance(obj, torch.Tensor)]
    for obj in objects:
        if obj.device.type == "cpu":
            try:
                storage = obj.untyped_storage()
            except (RuntimeError, NotImplementedError):
                continue
            seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


@pytest.mark.parametrize("engine", ["fast", "plain"])
def test_memory_does_not_grow_with_decisions(tmp_path, engine):
    task_dir = write_task_dir(tmp_path / "task", CONFIG, seed=5, batch=6, pos=10)
    task = tasks.load_task(None, str(task_dir), "cpu", torch.float32)
    exp = prepare(task, Settings(threshold=0.01, engine=engine))
    events = exp.run.events()

    def test_edges(count: int) -> None:
        done = 0
        for ev in events:
            done += isinstance(ev, EdgeTested)
            if done >= count:
                return
        pytest.fail("the run ended before the decisions the test needs")

    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        test_edges(N)
        after_n = _live_tensor_bytes()
        test_edges(3 * N)
        after_4n = _live_tensor_bytes()
    finally:
        if was_enabled:
            gc.enable()
    activation = 6 * 10 * CONFIG["d_model"] * 4  # one [batch, pos, d_model] float32 tensor
    assert after_4n - after_n <= 4 * activation, f"{(after_4n - after_n) / activation:.0f} activations more after {4 * N} tested edges than after {N}"
