"""Time travel and branching on journals: any past state is the one `export --step` writes, and a
branch's journal replays from scratch to the branch's own circuit."""

from __future__ import annotations

import random

import orjson
import pytest

from acdc_tui.cli.main import main
from acdc_tui.core.events import EdgeForced, EdgeTested, NodeEntered, NodeSkipped
from acdc_tui.runs.client import RunClient
from acdc_tui.runs.driver import edge_view
from acdc_tui.runs.journal.reader import JournalReader
from acdc_tui.runs.journal.view import graph_of, state_at
from acdc_tui.runs.timeline import Cursor


def _run(tmp_path, name: str, *extra: str) -> tuple:
    journal, out = tmp_path / f"{name}.journal", tmp_path / f"{name}.json"
    args = ["run", "--task", "tracr-reverse", "--threshold", "0.01", "--dtype", "float64", "--quiet", "--out", str(out), "--journal", str(journal), *extra]
    assert main(args) == 0
    return journal, out


def _views(run, graph):
    return {e.key: edge_view(run, e) for e in graph.edges}


def test_a_cursor_anywhere_on_the_timeline_is_the_state_export_writes(tmp_path, capsys):
    journal, _ = _run(tmp_path, "r", "--pin", "a3.0->out", "--tree-shaking")
    client = RunClient(journal)
    client.wait_ready(lambda: False)
    client.poll()
    timeline = client.timeline
    assert len(timeline) == len(client.events) > 80
    cursor = Cursor(timeline, client.views(), len(timeline) - 1)
    reader = JournalReader(journal)
    graph = graph_of(reader.meta)
    rng = random.Random(0)
    targets = [0, len(timeline) - 1, -1] + [rng.randrange(len(timeline)) for _ in range(25)]
    for index in targets:  # back and forth, in random order
        cursor.move_to(index)
        past, _ = state_at(reader, graph, step=cursor.seq)
        assert cursor.views == _views(past, graph), index
        facts = cursor.facts
        assert (facts.done, facts.kept, facts.current_metric, facts.threshold) == (past.done, past.kept(), past.current_metric, past.threshold)
    # the same past state through the command line
    cursor.move_to(40)
    out = tmp_path / "step.json"
    assert main(["export", str(journal), "--out", str(out), "--step", str(cursor.seq)]) == 0
    exported = orjson.loads(out.read_bytes())
    present = {(e["sender"]["hook"], e["sender"]["head"], e["receiver"]["hook"], e["receiver"]["head"]) for e in exported["edges"] if e["present"]}
    assert present == {(k[0].name, k[0].head, k[1].name, k[1].head) for k, v in cursor.views.items() if v.present}
    client.close()


def test_stepping_stops_at_edge_decisions_and_receivers(tmp_path):
    journal, _ = _run(tmp_path, "r")
    client = RunClient(journal)
    client.wait_ready(lambda: False)
    client.poll()
    timeline = client.timeline
    last = len(timeline) - 1
    back = timeline.previous_decision(last)
    assert isinstance(timeline.changes[back].event, (EdgeTested, EdgeForced))
    node = timeline.previous_decision(last, node_level=True)
    assert isinstance(timeline.changes[node].event, (NodeEntered, NodeSkipped))
    assert timeline.next_decision(back) > back
    assert timeline.index_of_seq(timeline.changes[back].event.seq) == back
    client.close()


@pytest.mark.parametrize("engine", ["plain", "fast"])
def test_a_branch_replays_from_scratch_to_its_own_circuit(tmp_path, engine, capsys):
    journal, _ = _run(tmp_path, "parent", "--engine", engine)
    branch, out = tmp_path / "branch.journal", tmp_path / "branch.json"
    assert main(["branch", str(journal), "--step", "40", "--threshold", "1e-6", "--pin", "m2->out", "--journal", str(branch), "--out", str(out), "--quiet"]) == 0
    reader = JournalReader(branch)
    assert reader.meta["parent"]["journal"] == str(journal.resolve()) and reader.meta["parent"]["step"] == 40
    parent_rows = [r for r in JournalReader(journal).events() if r.seq <= 40]
    branch_rows = reader.events()
    assert [(r.seq, r.kind, r.data) for r in branch_rows[:40]] == [(r.seq, r.kind, r.data) for r in parent_rows]  # the prefix, as recorded
    assert {c.action for c in reader.commands() if c.source == "branch"} == {"threshold", "pin"}
    # replaying the whole branch journal (no model) gives the circuit the branch run wrote
    graph = graph_of(reader.meta)
    replayed, _ = state_at(reader, graph)
    written = orjson.loads(out.read_bytes())
    assert replayed.threshold == 1e-6 and written["settings"]["threshold"] == 1e-6
    assert {(e["sender"]["hook"], e["sender"]["head"], e["receiver"]["hook"], e["receiver"]["head"]) for e in written["edges"] if e["present"]} == {
        (e.sender.name, e.sender.head, e.receiver.name, e.receiver.head) for e in replayed.present_edges()
    }
    # and a fresh run with the parent's settings reaches the same circuit as the branch would if
    # the branch point is the very start and nothing changes
    same = tmp_path / "same.journal"
    assert main(["branch", str(journal), "--step", "0", "--journal", str(same), "--out", str(tmp_path / "same.json"), "--quiet"]) == 0
    assert orjson.loads((tmp_path / "same.json").read_bytes())["summary"]["edges_kept"] == orjson.loads((tmp_path / "parent.json").read_bytes())["summary"]["edges_kept"]


def test_diff_reads_journals_at_any_step(tmp_path, capsys):
    journal, out = _run(tmp_path, "r")
    strict, _ = _run(tmp_path, "strict", "--threshold", "1e-6")
    assert main(["diff", str(journal), str(out)]) == 0  # a run's journal and its own circuit file
    assert main(["diff", f"{journal}@40", f"{journal}@40"]) == 0
    capsys.readouterr()
    assert main(["export", str(journal), "--step", "40", "--out", str(tmp_path / "s40.json")]) == 0
    assert main(["diff", f"{journal}@40", str(tmp_path / "s40.json")]) == 0
    capsys.readouterr()
    assert main(["diff", str(journal), str(strict)]) in (0, 1)
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    from acdc_tui.runs.sources import load_any

    a, b = load_any(journal).circuit.present_keys(False), load_any(strict).circuit.present_keys(False)
    assert f"{len(a & b)} in both, {len(a - b)} only in A, {len(b - a)} only in B" in summary
    assert main(["diff", f"{journal}@nope", str(out)]) == 2
    assert main(["dot", f"{journal}@40", "-o", str(tmp_path / "s40.dot")]) == 0
