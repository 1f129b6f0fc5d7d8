"""A client of a run loop: commands through the journal, state rebuilt by replay, batched snapshots."""

from __future__ import annotations

import threading
import time

import orjson
import pytest

from acdc_tui.core.events import EdgeTested, NodeEntered, NodeSkipped, RunFinished
from acdc_tui.runs.client import RunClient
from acdc_tui.runs.driver import FINISHED, PAUSED
from tests.helpers import LocalRun, experiment, final_state


class Harness:
    """A run loop in one thread and a client following it in another, as the explorer does."""

    def __init__(self, exp, journal) -> None:
        self.run = LocalRun(exp, journal)
        self.client = RunClient(journal)
        self.client.wait_ready(lambda: False, timeout=30)
        self.batches = []
        self._cancel = False
        self.thread = threading.Thread(target=self.client.follow, args=(self.batches.append, lambda: self._cancel), daemon=True)
        self.thread.start()

    def wait(self, pred, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while not pred():
            assert time.monotonic() < end, "timed out"
            time.sleep(0.01)

    def idle(self, mode: str = PAUSED) -> None:
        self.wait(lambda: self.batches and self.batches[-1].status.mode == mode)

    def close(self) -> None:
        self._cancel = True
        self.thread.join(5)
        self.client.close()
        self.run.close()

    def events(self):
        return [ev for b in self.batches for ev in b.events]


@pytest.fixture
def harness(tmp_path):
    made = []

    def make(exp):
        made.append(Harness(exp, tmp_path / f"run{len(made)}.journal"))
        return made[-1]

    yield make
    for h in made:
        h.close()


def test_starts_paused_and_runs_to_the_same_circuit(harness):
    straight = experiment("tracr-reverse")
    list(straight.run.events())
    h = harness(experiment("tracr-reverse"))
    h.idle()
    assert h.client.run.done == 0
    h.client.play()
    h.idle(FINISHED)
    assert final_state(h.run.exp) == final_state(straight)
    # the client's replayed state is the run's, edge for edge
    assert {k: (r.present, r.delta, r.decided_by) for k, r in h.client.run.records.items()} == final_state(straight)
    last = h.batches[-1].status
    assert last.done == last.total == straight.run.total and last.complete
    assert isinstance(h.events()[-1], RunFinished)
    seen = {}
    for b in h.batches:
        seen.update(b.edges)
    for key, rec in straight.run.records.items():
        if rec.decided_by is not None:
            assert seen[key].present == rec.present and seen[key].seq == rec.seq


def test_stepping_then_running_is_exact_and_steps_stop_where_they_should(harness):
    straight = experiment("tracr-proportion")
    list(straight.run.events())
    h = harness(experiment("tracr-proportion"))
    h.idle()
    tested = lambda: sum(isinstance(e, EdgeTested) for e in h.events())  # noqa: E731
    for i in range(1, 4):
        h.client.step_edge()
        h.wait(lambda: tested() == i and h.batches[-1].status.mode == PAUSED)
    time.sleep(0.2)
    assert tested() == 3  # each step stopped after one edge
    nodes = lambda: sum(isinstance(e, (NodeEntered, NodeSkipped)) for e in h.events())  # noqa: E731
    entered = nodes()
    h.client.step_node()
    h.wait(lambda: nodes() == entered + 1 and h.batches[-1].status.mode == PAUSED)
    assert type(h.events()[-1]).__name__ in ("NodeEntered", "NodeSkipped")
    h.client.play()
    h.idle(FINISHED)
    assert final_state(h.run.exp) == final_state(straight)


def test_overrides_after_the_end_apply_at_once_and_export(harness, tmp_path):
    straight = experiment("tracr-reverse")
    list(straight.run.events())
    removed = next(r.edge for r in straight.run.records.values() if r.decided_by == "test" and not r.present)
    h = harness(experiment("tracr-reverse"))
    h.client.play()
    h.idle(FINISHED)
    h.client.pin(removed)
    h.wait(lambda: any(removed.key in b.edges and b.edges[removed.key].pinned for b in h.batches))
    assert h.run.exp.run.records[removed.key].present and h.client.run.records[removed.key].present
    out = tmp_path / "c.json"
    h.client.export(out, tmp_path / "c.dot")
    h.wait(lambda: any(n.startswith("exported") for b in h.batches for n in b.notes))
    data = orjson.loads(out.read_bytes())
    assert data["complete"] is True
    assert f"{removed.sender}->{removed.receiver}" in data["settings"]["pins"]
    assert (tmp_path / "c.dot").read_text().startswith("digraph")


def test_a_failing_export_is_a_note_not_a_crash(harness, tmp_path):
    h = harness(experiment("tracr-proportion"))
    h.idle()
    h.client.export(tmp_path / "missing" / "c.json")
    h.wait(lambda: any(n.startswith("error:") and "does not exist" in n for b in h.batches for n in b.notes))
    h.client.play()
    h.idle(FINISHED)
