"""The opt-in attribution prefilter: the lowest FRACTION of tested edges by |attribution| removed untested
after the start, in one step and one evaluation; pins win; both engines agree; the run is labelled
non-reference in its circuit JSON and journal; a stopped or crashed prefiltered run resumes to the
uninterrupted run's events; bad specifications are one line."""

from __future__ import annotations

import orjson
import pytest

from acdc_tui.core.ablation import Ablation
from acdc_tui.cli.main import main
from acdc_tui.core.events import EdgeForced, EdgesPrefiltered, EdgeTested, RunStarted
from acdc_tui.engines.attribution import Method, attribute, differentiable_metric
from acdc_tui.runs import process
from acdc_tui.runs.journal.reader import JournalReader
from acdc_tui.runs.resume import open_resume
from tests.helpers import experiment
from tests.test_journal import assert_same_events, journal_events, resume_journal, run_journal

SPEC = "eap-ig:0.5"


@pytest.fixture(autouse=True)
def poll_every_step(monkeypatch):
    monkeypatch.setattr(process, "POLL_S", 0.0)


def _lowest_nine_tenths(exp) -> set:
    """The prefilter's choice, recomputed from the attribution scores directly (ties: graph order)."""
    task = exp.task
    metric = differentiable_metric(task.metrics[exp.metric_name], task.model, task.clean)
    scores = attribute(task.model, exp.graph, task.clean, task.corrupted, metric, Method.EAP_IG, scramble_positions=task.scramble_patch_positions).scores
    ranked = sorted(enumerate(exp.graph.tested_edges), key=lambda item: (abs(scores[item[1].key]), item[0]))
    n = int(0.9 * len(ranked))
    assert any(scores[e.key] != 0 for _, e in ranked[:n]) and any(scores[e.key] == 0 for _, e in ranked[:n])
    return {e.key for _, e in ranked[:n]}


class CountingEngine:
    def __init__(self, engine) -> None:
        self.engine, self.name, self.calls = engine, engine.name, 0

    def evaluate(self, absent) -> float:
        self.calls += 1
        return self.engine.evaluate(absent)


@pytest.mark.parametrize("engine", ["plain", "fast"])
def test_the_lowest_fraction_is_removed_untested_in_one_evaluation(engine):
    exact = experiment("tracr-proportion", threshold=0.01, engine=engine)
    exp = experiment("tracr-proportion", threshold=0.01, engine=engine, prefilter="eap-ig:0.9")
    want = _lowest_nine_tenths(exp)
    assert {e.key for e in exp.prefiltered} == want
    counter = exp.run.engine = CountingEngine(exp.run.engine)
    events = list(exp.run.events())
    started, prefiltered = events[0], events[1]
    assert isinstance(started, RunStarted) and isinstance(prefiltered, EdgesPrefiltered)
    assert {e.key for e in prefiltered.removed} == want and prefiltered.done == len(want)
    decided = {ev.edge.key for ev in events if isinstance(ev, (EdgeTested, EdgeForced))}
    assert not decided & want, "a prefiltered edge was tested"
    assert all(not exp.run.records[k].present and exp.run.records[k].decided_by == "prefilter" for k in want)
    exact_calls = sum(isinstance(ev, EdgeTested) for ev in exact.run.events()) + 1
    assert counter.calls == 2 + len(decided) < exact_calls  # the start, the prefilter, each test
    full = {r: set() for r in exp.graph.nodes}
    for key in want:
        full[key[1]].add(key[0])
    assert prefiltered.current_metric == pytest.approx(counter.engine.evaluate(full), rel=1e-6)


def test_both_engines_make_the_same_prefiltered_decisions():
    runs = [experiment("tracr-reverse", threshold=0.01, engine=engine, prefilter=SPEC) for engine in ("plain", "fast")]
    events = [list(exp.run.events()) for exp in runs]
    assert_same_events(events[1], events[0])


def test_a_pin_wins_over_the_prefilter():
    probe = experiment("tracr-proportion", threshold=0.01, prefilter=SPEC)
    victim = probe.prefiltered[0]
    pin = f"{victim.sender}->{victim.receiver}"
    exp = experiment("tracr-proportion", threshold=0.01, prefilter=SPEC, pins=(pin,))
    assert victim.key not in {e.key for e in exp.prefiltered}
    events = list(exp.run.events())
    tested = [ev for ev in events if isinstance(ev, EdgeTested) and ev.edge.key == victim.key]
    assert len(tested) == 1 and exp.run.records[victim.key].present


def test_a_sweep_prefilters_every_threshold(tmp_path):
    out = tmp_path / "sweep.json"
    assert main(["sweep", "--task", "tracr-reverse", "--thresholds", "0.1,0.01", "--prefilter", SPEC, "--out", str(out), "--quiet", "--with-edges", "--journal", str(tmp_path / "s.journal")]) == 0
    data = orjson.loads(out.read_bytes())
    assert data["settings"]["prefilter"] == SPEC and data["settings"]["reference"] is False
    reader = JournalReader(tmp_path / "s.journal")
    kinds = [[r.kind for r in reader.events(run=k)] for k in (1, 2)]
    reader.close()
    assert all(k[:2] == ["RunStarted", "EdgesPrefiltered"] for k in kinds)


def test_the_run_is_labelled_non_reference(tmp_path):
    out, journal = tmp_path / "c.json", tmp_path / "r.journal"
    assert main(["run", "--task", "tracr-reverse", "--threshold", "0.01", "--prefilter", SPEC, "--out", str(out), "--journal", str(journal), "--quiet"]) == 0
    settings = orjson.loads(out.read_bytes())["settings"]
    assert settings["reference"] is False and settings["prefilter"] == SPEC
    reader = JournalReader(journal)
    assert reader.meta["settings"]["reference"] is False and reader.meta["settings"]["prefilter"] == SPEC
    reader.close()
    decided = [e for e in orjson.loads(out.read_bytes())["edges"] if e["decided_by"] == "prefilter"]
    assert len(decided) == 106 // 2 and not any(e["present"] for e in decided)
    exact = tmp_path / "exact.json"
    assert main(["run", "--task", "tracr-reverse", "--threshold", "0.01", "--out", str(exact), "--quiet"]) == 0
    assert orjson.loads(exact.read_bytes())["settings"]["reference"] is True


@pytest.mark.parametrize("stop_at", [1, 2, 9])
@pytest.mark.parametrize("crash", [False, True])
def test_a_prefiltered_run_resumes_to_the_uninterrupted_run(tmp_path, stop_at, crash):
    """Stopped or crashed right after the start (before the prefilter), right after it, or later."""
    reference = experiment("tracr-reverse", threshold=0.01, prefilter=SPEC)
    run_journal(tmp_path / "reference.journal", reference, {})
    want = journal_events(tmp_path / "reference.journal", reference.graph)
    path = tmp_path / "stopped.journal"
    run_journal(path, experiment("tracr-reverse", threshold=0.01, prefilter=SPEC), {}, crash_at=stop_at if crash else None, stop_at=None if crash else stop_at)
    resume_journal(path, {})
    assert_same_events(journal_events(path, reference.graph), want)
    assert open_resume(path).finished


@pytest.mark.parametrize("spec, needle", [
    ("eap", "give METHOD:FRACTION"),
    ("eap:1", "at least 0 and below 1"),
    ("eap:half", "'half' is not a number"),
    ("shap:0.5", "unknown attribution method 'shap'"),
    ("eap:0.5", "every EAP score is zero, because metric 'l2' is flat on the clean run"),
])
def test_bad_prefilters_are_one_line(spec, needle, tmp_path, capsys):
    assert main(["run", "--task", "tracr-reverse", "--threshold", "0.01", "--prefilter", spec, "--out", str(tmp_path / "c.json"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("acdc-tui: error: ") and needle in err and "\n" not in err


def test_a_grouped_query_checkpoint_is_prefiltered_alike_on_both_engines(tmp_path):
    """The prefilter's attribution runs after the engine's inference-mode passes (rotary tables cached)."""
    import torch

    import tasks
    from acdc_tui.runs.experiment import Settings, prepare
    from tests.hf_families import write_checkpoint, write_tokens

    d = tmp_path / "llama"
    write_checkpoint(d, "llama")
    write_tokens(d)
    task = tasks.load_task(None, str(d), "cpu", torch.float64)
    runs = [prepare(task, Settings(threshold=0.05, engine=engine, dtype="float64", prefilter="eap-ig:0.3")) for engine in ("plain", "fast")]
    assert runs[0].prefiltered == runs[1].prefiltered and len(runs[0].prefiltered) == int(0.3 * len(runs[0].graph.tested_edges))
    events = [list(exp.run.events()) for exp in runs]
    assert_same_events(events[1], events[0])


def test_the_fast_engine_continues_from_the_prefiltered_state():
    """After the prefilter's one evaluation the fast engine's reference is the prefiltered state, so a
    test does not recompute from the earliest prefiltered receiver (one forward per evaluation, not two)."""
    exp = experiment("induction", threshold=0.1, prefilter=SPEC)
    list(exp.run.events())
    engine = exp.run.engine
    assert engine.fallback is None and engine.forwards < 1.5 * engine.evaluations and engine.rebases < engine.evaluations / 3


def test_the_explorer_forwards_prefilter_and_mean_ablation_to_its_run_process(tmp_path, monkeypatch):
    from pathlib import Path

    import acdc_tui.runs.launch as launch
    from acdc_tui.cli.commands.explore import start_run
    from acdc_tui.cli.main import build_explorer_parser, build_parser
    from acdc_tui.cli.options import recipe_from_args
    from acdc_tui.runs.recipe import RunRecipe

    args = build_explorer_parser().parse_args(["--task", "tracr-reverse", "--prefilter", SPEC, "--mean-ablation"])
    spawned = []
    monkeypatch.setattr(launch, "spawn", lambda what: spawned.append(what) or (None, None))
    start_run(recipe_from_args(args), Path(tmp_path / "r.journal"), paused=True)
    run = build_parser().parse_args(spawned[0].argv())  # what the run process parses: its recipe
    settings = RunRecipe.read(run.recipe).settings()
    assert settings.prefilter == SPEC and settings.ablation is Ablation.MEAN


def test_a_resumed_fast_engine_continues_from_the_replayed_state(tmp_path):
    """Resume evaluates the replayed state once, as the fast engine's reference: the rest of the run
    costs one forward per evaluation, as an uninterrupted one does."""
    path = tmp_path / "stopped.journal"
    run_journal(path, experiment("induction", threshold=0.1, prefilter=SPEC), {}, stop_at=30)
    job = open_resume(path)
    engine = job.exp.run.engine
    list(job.exp.run.events())
    assert engine.fallback is None and engine.forwards < 1.5 * engine.evaluations and engine.rebases < engine.evaluations / 3
