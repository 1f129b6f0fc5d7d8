"""The paper's hub tasks, offline: data generators, metrics, ground truths, and the offline error."""

from __future__ import annotations


import pytest
import torch

import tasks
from acdc_tui.cli.main import main
from acdc_tui.core.graph import EdgeType, GraphSpec, build_graph
from tasks import hub_data
from tasks.hub_data import VocabTokenizer
from tests.helpers import run_offline
from tasks.hub_tasks import docstring_metric, greaterthan_prob_diff, load_ground_truth, logit_diff, masked_kl


def test_ioi_data():
    tok = VocabTokenizer(hub_data.ioi_vocab())
    d = hub_data.ioi_data(tok, num_examples=20)
    assert d.clean.shape == d.corrupted.shape == (20, 15)  # the reference's 16 tokens less the answer
    assert tok.decode(d.clean[0]) == d.prompts[0]
    assert (d.clean[:, 2] == d.io_tokens).all() and (d.clean[:, 4] == d.s_tokens).all() and (d.clean[:, 10] == d.s_tokens).all()
    assert (d.io_tokens != d.s_tokens).all()
    names = {tok.ids[" " + n] for n in hub_data.IOI_NAMES}
    for pos in range(15):  # ABC patch data: the three names differ, the rest is the same
        if pos in (2, 4, 10):
            assert all(int(t) in names for t in d.corrupted[:, pos])
            assert (d.corrupted[:, pos] != d.clean[:, pos]).all()
        else:
            assert torch.equal(d.corrupted[:, pos], d.clean[:, pos])
    assert torch.equal(hub_data.ioi_data(tok, num_examples=20).clean, d.clean)  # deterministic


def test_greaterthan_data():
    tok = VocabTokenizer(hub_data.greaterthan_vocab())
    years = hub_data.greaterthan_years(tok)
    assert years[0] == "1103" and years[-1] == "1797" and "1150" in years and "1102" not in years
    d = hub_data.greaterthan_data(tok, num_examples=30)
    assert d.clean.shape == d.corrupted.shape == (30, 10)
    text = tok.decode(d.clean[0])
    assert text == d.prompts[0] and text.startswith("The ") and " lasted from the year " in text
    assert [tok.decode([int(t)]) for t in d.clean[:, 7]] == [f"{y:02d}" for y in d.years.tolist()]
    assert (d.clean[:, 6] == d.clean[:, 9]).all()  # " XX" of the start year, repeated at the end
    assert (d.corrupted[:, 7] == tok.ids["01"]).all()
    assert torch.equal(d.corrupted[:, :7], d.clean[:, :7]) and torch.equal(d.corrupted[:, 8:], d.clean[:, 8:])
    assert [tok.decode([int(t)]) for t in d.digit_tokens[:3]] == ["00", "01", "02"]


def test_docstring_data():
    tok = VocabTokenizer(hub_data.docstring_vocab())
    d = hub_data.docstring_data(tok, num_examples=10)
    assert d.clean.shape == d.corrupted.shape and d.clean.shape[0] == 10
    assert d.wrong.shape == (10, 13)  # all 14 drawn names but the answer
    assert (d.clean[:, 0] == tok.bos_token_id).all()
    text = tok.decode(d.clean[0][1:])
    assert text == d.prompts[0] and text.startswith("\ndef ") and text.endswith("\n    :param")
    assert text.count(":param") == 3  # two documented arguments, then the one to predict
    answer = tok.decode([int(d.correct[0])])
    signature = text.split("\n")[1]
    args = signature[signature.index("(self, ") + 7 : signature.index("):")].split(", ")
    assert len(args) == 6 and answer.strip() == args[4]  # 2 prefix args, 3 matching (the 3rd is the answer), 1 suffix
    assert answer.strip() not in text.split('"""')[1]  # not documented yet
    assert (d.wrong != d.correct[:, None]).all()
    c, k, _, _ = hub_data.docstring_example(0, **hub_data.DOC_PROMPT_KWARGS)
    assert c.split("\n")[1].split("(")[0] == k.split("\n")[1].split("(")[0]  # same method name in the corruption


def test_metrics_on_hand_made_logits():
    logits = torch.zeros(2, 3, 5)
    logits[0, -1, 1], logits[0, -1, 2] = 3.0, 1.0
    logits[1, -1, 1], logits[1, -1, 2] = 0.0, 2.0
    ld = logit_diff(logits, correct=torch.tensor([1, 1]), wrong=torch.tensor([2, 2]))
    assert ld(logits).item() == pytest.approx(-((3 - 1) + (0 - 2)) / 2)

    dm = docstring_metric(logits, correct=torch.tensor([1, 2]), wrong=torch.tensor([[2, 3], [0, 1]]))
    assert dm(logits).item() == pytest.approx(-((3 - 1) + (2 - 0)) / 2)

    # greaterthan: vocabulary of exactly the 100 two-digit tokens; all mass on YY'=60 for start 50
    digits = torch.arange(100)
    gl = torch.full((1, 1, 100), -1e9)
    gl[0, 0, 60] = 0.0
    gt = greaterthan_prob_diff(gl, years=torch.tensor([50]), digit_tokens=digits)
    assert gt(gl).item() == pytest.approx(-1.0)
    gl2 = torch.zeros(1, 1, 100)  # uniform: P(>50) = 0.49, P(<=50) = 0.51
    assert gt(gl2).item() == pytest.approx(-(0.49 - 0.51))

    mask = torch.tensor([[False, True, True]])
    clean = torch.randn(1, 3, 5, generator=torch.Generator().manual_seed(0))
    kl = masked_kl(clean, mask)
    assert kl(clean).item() == pytest.approx(0.0, abs=1e-7)
    other = clean.clone()
    other[0, 0] += 5.0  # an unmasked position does not count
    assert kl(other).item() == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize(
    "task, spec, edges, non_placeholder",
    [
        ("ioi", GraphSpec(12, 12), 1131, 1041),  # 1041 and 262: the paper's edge counts
        ("greaterthan", GraphSpec(12, 12), 289, 262),
        ("docstring", GraphSpec(4, 8, attn_only=True), 37, 37),
    ],
)
def test_ground_truth_edges_exist_in_the_graph(task, spec, edges, non_placeholder):
    graph = build_graph(spec)
    keys = {(e.sender.name, e.sender.head, e.receiver.name, e.receiver.head): e for e in graph.edges}
    gt = load_ground_truth(task)
    assert gt <= set(keys)
    assert len(gt) == edges
    assert sum(keys[k].type is not EdgeType.PLACEHOLDER for k in gt) == non_placeholder


def test_ground_truth_files_are_what_the_builder_writes():
    from tasks.build.canonical import BUILDERS

    for task, build in BUILDERS.items():
        assert frozenset(tuple(r) for r in build()) == load_ground_truth(task)


def test_ioi_ground_truth_contains_the_known_structure():
    gt = load_ground_truth("ioi")
    assert ("blocks.9.attn.hook_result", 9, "blocks.11.hook_resid_post", None) in gt  # name mover -> logits
    assert ("blocks.2.attn.hook_result", 2, "blocks.5.hook_k_input", 5) in gt  # previous token -> induction K
    assert ("blocks.7.attn.hook_result", 3, "blocks.9.hook_q_input", 9) in gt  # S-inhibition -> name mover Q
    assert ("blocks.0.hook_resid_pre", None, "blocks.9.hook_q_input", 9) not in gt
    assert ("blocks.1.attn.hook_result", 0, "blocks.11.hook_resid_post", None) not in gt  # a head outside the circuit


def test_tasks_listing_loads_no_model(capsys, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("tasks listing must not load tasks")

    monkeypatch.setattr(tasks, "load_task", boom)
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    for name in tasks.TASK_NAMES:
        assert name in out
    assert "--model PATH" in out


def test_offline_load_is_one_line(tmp_path):
    r = run_offline("ioi", tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "'gpt2'" in lines[0] and "Hugging Face cache" in lines[0] and "--model PATH" in lines[0]


def test_summaries_name_the_metrics_of_the_offline_tasks():
    for name in ("tracr-reverse", "tracr-proportion", "induction"):
        task = tasks.load_task(name)
        for metric in task.metrics:
            assert metric in tasks.TASK_SUMMARIES[name]
    assert set(tasks.TASK_SUMMARIES) == set(tasks.TASK_NAMES)
