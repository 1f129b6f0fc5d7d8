"""Tasks from text: prompts.jsonl parsing and row checks, BOS, the answer metrics against
transformers' own logits, and end to end runs of text task directories on both engines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tasks
from acdc_tui.cli.main import main
from acdc_tui.core.errors import UserError, UserErrors
from acdc_tui.core.metrics import answer_metric
from tasks.text_task import KEYS, parse_prompts
from tests.text_task_helpers import TEXT_FAMILIES, UNDO, hf_logit_diff, ioi_rows, train_tokenizer, write_prompts, write_text_task

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("text") / "gpt2"
    hf, tok, rows = write_text_task(d, "gpt2")
    return d, hf, tok, rows


def _errors(capsys, *argv) -> tuple[int, list[str]]:
    code = main(["run", *argv, "--threshold", "0.1", "--quiet"])
    return code, capsys.readouterr().err.strip().splitlines()


def _task_with_rows(base: Path, tmp_path: Path, lines: list[str]) -> Path:
    """A copy of the task directory `base` (symlinks) with prompts.jsonl holding `lines` as written."""
    d = tmp_path / "task"
    d.mkdir()
    for f in base.iterdir():
        if f.name != "prompts.jsonl":
            (d / f.name).symlink_to(f)
    (d / "prompts.jsonl").write_text("".join(line + "\n" for line in lines))
    return d


ROW = {"clean": "When Mary and John went to the store, John gave a drink to", "corrupted": "When Kate and Bob went to the store, Tom gave a drink to", "answer": " Mary", "wrong": " John"}


def _line(**changes) -> str:
    return json.dumps({**ROW, **changes})


# ---------------------------------------------------------------- row checks: one line each, nothing written ----------------------------------------------------------------


def test_misaligned_rows_are_one_line_each_naming_file_line_and_lengths(gpt2_dir, tmp_path, capsys):
    d = _task_with_rows(gpt2_dir[0], tmp_path, [
        _line(),
        _line(corrupted="When Kate and Bob went to the store, Tom gave to"),  # 2 tokens short
        "",  # a blank line: skipped, but counted
        _line(clean="When Mary and John went to the park, John gave a drink to Mary", corrupted="When Kate and Bob went to the park, Tom gave a drink to Kate"),  # both one longer than line 1
    ])
    out = tmp_path / "c.json"
    code, lines = _errors(capsys, "--task-dir", str(d), "--out", str(out), "--journal", str(tmp_path / "j.acdc"))
    p = d / "prompts.jsonl"
    assert code != 0 and len(lines) == 2, lines
    assert lines[0].startswith(f"acdc-tui: error: {p}:2: clean has 15 tokens and corrupted 13: they must tokenize to the same length (ACDC patches position by position); clean ['<bos>', 'When', ' Mary',"), lines[0]
    assert "corrupted ['<bos>', 'When', ' Kate', ' and', ' Bob', ' went', ' to', ' the', ' store', ',', ' Tom', ' gave', ' to']" in lines[0]
    assert lines[1].startswith(f"acdc-tui: error: {p}:4: 16 tokens but line 1 has 15: every row must have the same number of tokens (rows are not padded)"), lines[1]
    assert not out.exists() and not (tmp_path / "j.acdc").exists()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["task"]  # nothing written, no lock left behind


def test_multi_token_and_unknown_answers(gpt2_dir, tmp_path, capsys):
    d = _task_with_rows(gpt2_dir[0], tmp_path, [_line(answer=" Mary John"), _line(wrong="John"), _line(answer=[" Mary", " Kate Bob"])])
    code, lines = _errors(capsys, "--task-dir", str(d), "--out", str(tmp_path / "c.json"))
    p = d / "prompts.jsonl"
    assert code != 0
    assert lines == [
        f"acdc-tui: error: {p}:1: answer ' Mary John' is 2 tokens [' Mary', ' John'], not one: give the text of a single token (a leading space is part of it)",
        f"acdc-tui: error: {p}:2: wrong 'John' is the unknown token '<unk>': the tokenizer has no token for it (check the leading space)",
        f"acdc-tui: error: {p}:3: answer ' Kate Bob' is 2 tokens [' Kate', ' Bob'], not one: give the text of a single token (a leading space is part of it)",
    ]


def test_unknown_keys_bad_json_missing_keys_and_types(gpt2_dir, tmp_path, capsys):
    d = _task_with_rows(gpt2_dir[0], tmp_path, [
        _line(),
        json.dumps({**ROW, "answers": " Mary"}),
        '{"clean": "When Mary", "corrupted": ',
        "[1, 2]",
        json.dumps({"clean": "When Mary"}),
        _line(answer=3),
        _line(wrong=[]),
    ])
    code, lines = _errors(capsys, "--task-dir", str(d), "--out", str(tmp_path / "c.json"))
    p = d / "prompts.jsonl"
    assert code != 0
    assert lines[0] == f"acdc-tui: error: {p}:2: unknown key 'answers': the keys are clean, corrupted, answer, wrong (answer and wrong optional)"
    assert lines[1].startswith(f"acdc-tui: error: {p}:3: not valid JSON (") and lines[1].endswith("): each line must be one JSON object such as {\"clean\": \"...\", \"corrupted\": \"...\", \"answer\": \" Mary\", \"wrong\": \" John\"}")
    assert lines[2] == f"acdc-tui: error: {p}:4: a JSON list, not an object: each line must be one JSON object such as {{\"clean\": \"...\", \"corrupted\": \"...\", \"answer\": \" Mary\", \"wrong\": \" John\"}}"
    assert lines[3] == f"acdc-tui: error: {p}:5: no \"corrupted\": every row needs \"clean\" and \"corrupted\" texts"
    assert lines[4] == f"acdc-tui: error: {p}:6: \"answer\" must be a string (one token) or a list of strings, got a number"
    assert lines[5] == f"acdc-tui: error: {p}:7: \"wrong\" is an empty list: give at least one token text"
    assert len(lines) == 6


def test_empty_file_and_answers_on_some_rows_only(gpt2_dir, tmp_path, capsys):
    d = _task_with_rows(gpt2_dir[0], tmp_path, [])
    code, lines = _errors(capsys, "--task-dir", str(d), "--out", str(tmp_path / "c.json"))
    assert code != 0 and lines == [f"acdc-tui: error: {d / 'prompts.jsonl'}: no rows (the file is empty): write one JSON object a line, such as {{\"clean\": \"...\", \"corrupted\": \"...\", \"answer\": \" Mary\", \"wrong\": \" John\"}}"]
    (d / "prompts.jsonl").write_text(_line() + "\n" + json.dumps({"clean": ROW["clean"], "corrupted": ROW["corrupted"]}) + "\n")
    code, lines = _errors(capsys, "--task-dir", str(d), "--out", str(tmp_path / "c.json"))
    assert code != 0 and lines == [
        f"acdc-tui: error: {d / 'prompts.jsonl'}:2: has no \"answer\" but line 1 has one: give every row \"answer\", or none",
        f"acdc-tui: error: {d / 'prompts.jsonl'}:2: has no \"wrong\" but line 1 has one: give every row \"wrong\", or none",
    ]


def test_rows_are_checked_before_the_model_loads(gpt2_dir, tmp_path, capsys):
    d = _task_with_rows(gpt2_dir[0], tmp_path, [_line(answer=" Mary John")])
    (d / "model.safetensors").unlink()
    (d / "model.safetensors").write_bytes(b"not weights")
    code, lines = _errors(capsys, "--task-dir", str(d), "--out", str(tmp_path / "c.json"))
    assert code != 0 and len(lines) == 1 and ":1: answer ' Mary John' is 2 tokens" in lines[0]


def test_a_metric_the_corruption_cannot_move_is_refused_in_one_line(gpt2_dir, tmp_path, capsys):
    """An answer equal to its distractor: logit_diff is 0 on any input, every Δ would be 0 and ACDC would
    remove every edge. Refused before the run, nothing written; the same rows with a real distractor run."""
    d = _task_with_rows(gpt2_dir[0], tmp_path, [_line(wrong=" Mary"), _line(wrong=" Mary")])
    out, journal = tmp_path / "c.json", tmp_path / "j.acdc"
    code, lines = _errors(capsys, "--task-dir", str(d), "--metric", "logit_diff", "--out", str(out), "--journal", str(journal))
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith("acdc-tui: error: the metric reads the same value on the clean and the corrupted data (0)"), lines[0]
    assert not out.exists() and not journal.exists()
    code, _ = _errors(capsys, "--task-dir", str(gpt2_dir[0]), "--metric", "logit_diff", "--out", str(out), "--journal", str(journal))
    assert code == 0 and out.exists()


def test_many_problems_are_capped(gpt2_dir, tmp_path, capsys):
    d = _task_with_rows(gpt2_dir[0], tmp_path, ["{"] * 30)
    code, lines = _errors(capsys, "--task-dir", str(d), "--out", str(tmp_path / "c.json"))
    assert code != 0 and len(lines) == 21 and lines[-1] == "acdc-tui: error: ... and 10 more problems"
    with pytest.raises(UserErrors) as e:
        tasks.load_task(task_dir=str(d))
    assert str(e.value).endswith("(and 29 more problems)") and "\n" not in str(e.value)


def test_prompts_options_need_a_checkpoint_with_a_tokenizer(gpt2_dir, tmp_path, capsys):
    d = gpt2_dir[0]
    code, lines = _errors(capsys, "--task", "induction", "--prompts", str(d / "prompts.jsonl"))
    assert code != 0 and lines == ["acdc-tui: error: --prompts needs the checkpoint with its tokenizer: pass --model DIR or --task-dir DIR, not --task induction"]
    bare = tmp_path / "bare"
    bare.mkdir()
    for f in ("config.json", "model.safetensors"):
        (bare / f).symlink_to(d / f)
    code, lines = _errors(capsys, "--model", str(bare), "--prompts", str(d / "prompts.jsonl"))
    assert code != 0 and lines == [f"acdc-tui: error: --model {bare} has no tokenizer files (tokenizer.json, tokenizer_config.json), which text prompts need: save the tokenizer beside the model with tokenizer.save_pretrained(DIR)"]
    code, lines = _errors(capsys, "--model", str(d), "--prompts", str(tmp_path / "none.jsonl"))
    assert code != 0 and lines == [f"acdc-tui: error: prompts file {str(tmp_path / 'none.jsonl')!r} does not exist: pass a .jsonl file with one {{\"clean\", \"corrupted\"}} object a line"]
    both = _task_with_rows(d, tmp_path, [_line()])
    torch.save({"clean": torch.zeros(1, 2, dtype=torch.long), "corrupted": torch.zeros(1, 2, dtype=torch.long)}, both / "tokens.pt")
    code, lines = _errors(capsys, "--task-dir", str(both))
    assert code != 0 and lines == [f"acdc-tui: error: task directory {str(both)!r} holds both tokens.pt and prompts.jsonl: keep one of them (or pass --prompts FILE to choose the text prompts)"]
    code, lines = _errors(capsys, "--task", "induction", "--bos", "on")
    assert code != 0 and lines == ["acdc-tui: error: --bos on applies to text prompts, and task induction has none: pass --model DIR --prompts FILE or a --task-dir with prompts.jsonl"]


# ---------------------------------------------------------------- the parser, fuzzed ----------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_value = st.one_of(_text, st.integers(), st.none(), st.booleans(), st.lists(_text, max_size=3))
_obj = st.dictionaries(st.sampled_from(list(KEYS) + ["extra"]), _value, max_size=5)
_line_st = st.one_of(_obj.map(json.dumps), st.text(max_size=30).filter(lambda s: "\n" not in s), st.just(""))


@settings(max_examples=300, deadline=None)
@given(st.lists(_line_st, max_size=8), st.booleans())
def test_parser_never_raises_and_every_problem_is_one_line_naming_its_line(lines, crlf):
    data = ("\r\n" if crlf else "\n").join(lines).encode()
    rows, problems = parse_prompts(data, "p.jsonl")
    n = len(data.decode().split("\n"))
    for p in problems:
        assert "\n" not in p and p.startswith("p.jsonl")
        rest = p[len("p.jsonl"):]
        if rest.startswith(":") and rest[1:2].isdigit():
            assert 1 <= int(rest[1:].split(":")[0]) <= n
    for r in rows:
        assert 1 <= r.line <= n and isinstance(r.clean, str) and r.clean and r.corrupted
        assert r.answer is None or (r.answer and all(isinstance(a, str) and a for a in r.answer))
    if not problems:
        assert rows and len({r.answer is None for r in rows}) == 1 and len({r.wrong is None for r in rows}) == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_text.filter(bool), _text.filter(bool), st.lists(_text.filter(bool), min_size=1, max_size=3), st.lists(_text.filter(bool), min_size=1, max_size=3)), min_size=1, max_size=6))
def test_parser_reads_back_what_was_written(rows):
    data = "".join(json.dumps({"clean": c, "corrupted": k, "answer": a, "wrong": w}) + "\n" for c, k, a, w in rows).encode()
    parsed, problems = parse_prompts(data)
    assert problems == []
    assert [(r.line, r.clean, r.corrupted, list(r.answer), list(r.wrong)) for r in parsed] == [(i + 1, c, k, a, w) for i, (c, k, a, w) in enumerate(rows)]


def test_parser_refuses_non_utf8():
    rows, problems = parse_prompts(b'{"clean": "\xff"}\n', "p.jsonl")
    assert rows == [] and problems == ["p.jsonl: not UTF-8 text (byte 11 is 0xff): save the file as UTF-8"]


# ---------------------------------------------------------------- BOS ----------------------------------------------------------------


@pytest.mark.parametrize("tokenizer_bos", [True, False])
@pytest.mark.parametrize("mode", ["auto", "on", "off"])
def test_bos_follows_the_tokenizer_or_the_option(tmp_path, tokenizer_bos, mode):
    d = tmp_path / "t"
    write_text_task(d, "gpt2", bos=tokenizer_bos)
    task = tasks.load_task(task_dir=str(d), bos=mode)
    text = task.config["text"]
    added = tokenizer_bos if mode == "auto" else mode == "on"
    assert text["bos"] == mode and text["bos_added"] is added
    assert bool((task.clean[:, 0] == 1).all()) is added  # <bos> is id 1
    assert task.clean.shape[1] == 14 + added
    assert text["tokenizer_sha256"].startswith("sha256:") and len(text["tokenizer_sha256"]) == 71


# ---------------------------------------------------------------- metrics against transformers' logits ----------------------------------------------------------------


def _hf_last_logits(hf, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return hf.to(torch.float64)(ids).logits[:, -1]


def test_answer_metrics_equal_a_hand_computation_from_transformers_logits(gpt2_dir, tmp_path):
    d, hf, tok, rows = gpt2_dir
    # several answers and distractors, ragged across rows
    rows = [dict(r) for r in rows]
    rows[0]["answer"], rows[0]["wrong"] = [rows[0]["answer"], " Tom"], [rows[0]["wrong"], " Kate", " Anna"]
    rows[1]["answer"] = [rows[1]["answer"], " Bob"]
    t = _task_with_rows(d, tmp_path, [json.dumps(r) for r in rows])
    task = tasks.load_task(task_dir=str(t), dtype=torch.float64)
    assert set(task.metrics) == {"kl", "logit_diff", "prob_diff", "nll"} and task.default_metric == "logit_diff"
    last = _hf_last_logits(hf, task.clean.cpu())
    ids = lambda texts: [tok(x, add_special_tokens=False)["input_ids"][0] for x in ([texts] if isinstance(texts, str) else texts)]  # noqa: E731
    hand = {"logit_diff": [], "prob_diff": [], "nll": []}
    for i, r in enumerate(rows):
        a, w = ids(r["answer"]), ids(r["wrong"])
        p, lp = last[i].softmax(-1), last[i].log_softmax(-1)
        hand["logit_diff"].append(-(last[i, a].mean() - last[i, w].mean()))
        hand["prob_diff"].append(-(p[a].mean() - p[w].mean()))
        hand["nll"].append(-lp[a].mean())
    from acdc_tui.models import backend

    backend_logits = backend.logits(task.model, task.clean)
    for name, values in hand.items():
        _, metric = task.metric(name)
        ours = float(metric(backend_logits))
        assert ours == pytest.approx(float(torch.stack(values).mean()), abs=1e-10, rel=1e-10), name
    _, kl = task.metric("kl")
    assert float(kl(backend_logits)) == pytest.approx(0.0, abs=1e-12)
    hf.to(torch.float32)


def test_answer_metric_sign_matches_the_hub_logit_diff():
    from tasks.hub_tasks import logit_diff

    logits = torch.randn(3, 4, 7, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    correct, wrong = torch.tensor([1, 2, 3]), torch.tensor([4, 5, 6])
    ours = answer_metric(logits, "logit_diff", correct, wrong)
    rows = torch.arange(3)
    expected = -(logits[rows, -1, correct] - logits[rows, -1, wrong]).mean()
    assert float(ours(logits)) == float(expected) == float(logit_diff(logits, correct, wrong)(logits))
    assert ours.positions == (-1,) and float(ours.on_selected(logits[:, -1:])) == float(expected)


def test_tokens_pt_with_answers_gets_the_answer_metrics(tmp_path):
    from tests.hf_families import write_checkpoint, write_tokens

    d = tmp_path / "tok"
    write_checkpoint(d, "gpt2")
    write_tokens(d)
    assert tasks.load_task(task_dir=str(d)).default_metric == "kl"  # as before
    data = torch.load(d / "tokens.pt")
    torch.save({**data, "answer": torch.tensor([1, 2, 3, 4]), "wrong": torch.tensor([[5, 6], [7, 8], [9, 10], [11, 12]])}, d / "tokens.pt")
    task = tasks.load_task(task_dir=str(d), dtype=torch.float64)
    assert set(task.metrics) == {"kl", "logit_diff", "prob_diff", "nll"} and task.default_metric == "logit_diff"
    from acdc_tui.models import backend

    last = backend.logits(task.model, task.clean)[:, -1]
    rows = torch.arange(4)
    expected = -(last[rows, torch.tensor([1, 2, 3, 4])] - last[:, [5, 7, 9, 11]].diagonal() / 2 - last[:, [6, 8, 10, 12]].diagonal() / 2).mean()
    assert float(task.metric("logit_diff")[1](backend.logits(task.model, task.clean))) == pytest.approx(float(expected), rel=1e-12)
    torch.save({**data, "answer": torch.tensor([1, 2])}, d / "tokens.pt")
    with pytest.raises(UserError, match=r"'answer' must be an integer tensor \[batch\] or \[batch, k\] with batch = 4"):
        tasks.load_task(task_dir=str(d))


# ---------------------------------------------------------------- end to end, every family, both engines ----------------------------------------------------------------


def _run(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": str(tmp / "hf")}
    return subprocess.run([sys.executable, "-m", "acdc_tui", "run", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _present(circuit: dict) -> list:
    return [(e["sender"], e["receiver"], e["present"]) for e in circuit["edges"]]


@pytest.mark.parametrize("family", list(TEXT_FAMILIES))
def test_text_task_directory_end_to_end_on_both_engines(tmp_path, family):
    d = tmp_path / family
    hf, tok, rows = write_text_task(d, family)
    expected = hf_logit_diff(hf, tok, rows)
    circuits = {}
    for engine in ("plain", "fast"):
        out = tmp_path / f"{engine}.json"
        r = _run(["--task-dir", str(d), "--metric", "logit_diff", "--threshold", "0.01", "--engine", engine, "--dtype", "float64",
                  "--quiet", "--out", str(out), "--journal", str(tmp_path / f"{engine}.acdc")], tmp_path)
        assert r.returncode == 0, r.stderr
        circuits[engine] = json.loads(out.read_text())
    plain, fast = circuits["plain"], circuits["fast"]
    assert _present(plain) == _present(fast)
    assert [e["delta"] for e in plain["edges"]] == pytest.approx([e["delta"] for e in fast["edges"]], abs=1e-9, nan_ok=True)
    for c in (plain, fast):
        assert c["task"]["metric"] == "logit_diff" and c["task"]["text"]["bos_added"] is True
        assert c["metrics"]["full"] == pytest.approx(expected, abs=1e-9, rel=1e-9)
        assert c["metrics"]["empty"] is not None and c["metrics"]["circuit"] is not None
    assert 0 < plain["summary"]["edges_kept"] < plain["summary"]["edges_total"], plain["summary"]



@pytest.mark.parametrize(("family", "undo"), UNDO, ids=[f"{f}-{next(iter(u))}" for f, u in UNDO])
def test_the_windows_and_soft_caps_bite_on_these_prompts(tmp_path, family, undo):
    """The end-to-end cases above exercise the sliding windows and Gemma-2's soft caps: without them
    transformers' logit difference on the same weights and prompts is another number, by far more than
    the 1e-9 to which the end-to-end test compares the full-model metric with it."""
    import copy

    hf, tok, rows = write_text_task(tmp_path / family, family)
    config = copy.deepcopy(hf.config)
    for key, value in undo.items():
        setattr(config, key, value)
    without = type(hf)(config).eval()
    without.load_state_dict(hf.state_dict())
    assert abs(hf_logit_diff(without, tok, rows) - hf_logit_diff(hf, tok, rows)) > 1e-5

def test_model_and_prompts_options_equal_the_task_directory(gpt2_dir, tmp_path):
    d = gpt2_dir[0]
    a = tasks.load_task(model_path=str(d), prompts=str(d / "prompts.jsonl"))
    b = tasks.load_task(task_dir=str(d))
    assert torch.equal(a.clean, b.clean) and torch.equal(a.corrupted, b.corrupted) and a.config["text"] == b.config["text"]


# ---------------------------------------------------------------- the shipped example: tiny-ioi ----------------------------------------------------------------


def _kept(circuit: dict) -> set[str]:
    def name(n):
        return n["hook"] + ("" if n.get("head") is None else f"[{n['head']}]")

    return {f"{name(e['sender'])}->{name(e['receiver'])}" for e in circuit["edges"] if e["present"] and e["type"] != "placeholder"}


def test_tiny_ioi_is_small_shipped_and_registered():
    d = tasks.TEXT_TASKS["tiny-ioi"]
    files = sorted(f.name for f in d.iterdir())
    assert files == ["config.json", "generation_config.json", "model.safetensors", "prompts.jsonl", "tokenizer.json", "tokenizer_config.json"]
    assert sum(f.stat().st_size for f in d.iterdir()) < 3 * 2**20
    assert "tiny-ioi" in tasks.TASK_NAMES and "tiny_ioi/*" in (ROOT / "pyproject.toml").read_text()
    task = tasks.load_task("tiny-ioi")
    assert task.name == "tiny-ioi" and task.source == "builtin" and task.default_metric == "logit_diff"
    assert tuple(task.clean.shape) == (40, 15) and task.config["text"]["bos_added"] is True
    for metric in task.metrics:
        assert metric in tasks.TASK_SUMMARIES["tiny-ioi"]


def test_tiny_ioi_finds_the_documented_circuit_on_both_engines(tmp_path, capsys):
    """docs/your-own-experiment.md: layer-0 heads copy both names to the end and the subject to the
    verb after it; layer-1 heads 1.0, 1.2, 1.3 read the subject there (V) and write it negatively."""
    circuits = {}
    for engine in ("plain", "fast"):
        out = tmp_path / f"{engine}.json"
        argv = ["--task", "tiny-ioi"] if engine == "plain" else ["--task-dir", str(tasks.TEXT_TASKS["tiny-ioi"])]
        assert main([*argv, "--metric", "logit_diff", "--threshold", "0.3", "--engine", engine, "--dtype", "float64", "--headless", "--quiet",
                     "--out", str(out), "--journal", str(tmp_path / f"{engine}.acdc")]) == 0
        circuits[engine] = json.loads(out.read_text())
    plain, fast = circuits["plain"], circuits["fast"]
    assert _present(plain) == _present(fast)
    kept = _kept(plain)
    for h in (0, 2, 3):
        assert f"blocks.1.attn.hook_result[{h}]->blocks.1.hook_resid_post" in kept  # the subject, negatively, into the logits
        assert f"blocks.0.attn.hook_result[0]->blocks.1.hook_v_input[{h}]" in kept  # read from a layer-0 head's output (V-composition)
        assert f"blocks.0.hook_resid_pre->blocks.0.hook_v_input[{h}]" in kept  # layer-0 heads copy the name tokens
    assert "blocks.0.attn.hook_result[0]->blocks.1.hook_resid_post" in kept  # names copied straight to the logits
    m = plain["metrics"]
    assert m["full"] == pytest.approx(-10.934, abs=1e-3) and m["empty"] == pytest.approx(-0.020, abs=1e-3)
    assert m["full"] < m["circuit"] < 0.7 * m["full"]  # the circuit keeps most of the logit difference
    assert plain["task"]["text"]["tokenizer_sha256"] == fast["task"]["text"]["tokenizer_sha256"]


def test_text_run_resumes_with_its_prompts_and_bos(gpt2_dir, tmp_path, capsys):
    d = gpt2_dir[0]
    journal = tmp_path / "j.acdc"
    assert main(["run", "--model", str(d), "--prompts", str(d / "prompts.jsonl"), "--bos", "off", "--threshold", "0.01", "--quiet",
                 "--out", str(tmp_path / "c.json"), "--journal", str(journal)]) == 0
    c = json.loads((tmp_path / "c.json").read_text())
    assert c["task"]["text"]["bos"] == "off" and c["task"]["text"]["bos_added"] is False and c["task"]["text"]["positions"] == 14
    capsys.readouterr()
    assert main(["resume", str(journal)]) == 0  # reloads the task from the journal's recipe: same data fingerprint
    assert "nothing to resume" in capsys.readouterr().err


def test_parser_accepts_a_byte_order_mark_and_crlf():
    rows, problems = parse_prompts(("\ufeff" + _line() + "\r\n\r\n" + _line(answer=[" Mary", " Kate"]) + "\r\n").encode(), "p.jsonl")
    assert problems == [] and [r.line for r in rows] == [1, 3] and rows[1].answer == (" Mary", " Kate")


def test_bos_auto_refuses_a_tokenizer_that_appends_special_tokens(gpt2_dir, tmp_path):
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    d = _task_with_rows(gpt2_dir[0], tmp_path, [_line()])
    tok = PreTrainedTokenizerFast.from_pretrained(str(gpt2_dir[0]))
    backend_tok = tok.backend_tokenizer
    backend_tok.post_processor = processors.TemplateProcessing(single="<bos> $A <eos>", special_tokens=[("<bos>", 1), ("<eos>", 2)])
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (d / name).unlink()
    PreTrainedTokenizerFast(tokenizer_object=backend_tok, bos_token="<bos>", eos_token="<eos>", unk_token="<unk>").save_pretrained(d)
    with pytest.raises(UserError, match=r"^the tokenizer adds special tokens after the text \('<eos>'\), so the last position would not be the prompt's last token: pass --bos on or --bos off"):
        tasks.load_task(task_dir=str(d))
    assert tasks.load_task(task_dir=str(d), bos="on").config["text"]["bos_added"] is True


def test_the_journal_recipe_carries_prompts_and_bos_absolute(gpt2_dir, tmp_path, capsys, monkeypatch):
    """run_recipe (and the loading recipe) record --prompts as an absolute path and --bos; resume from
    another folder reloads the same text task from them."""
    import shutil

    from acdc_tui.runs.journal.reader import JournalReader
    from acdc_tui.runs.recipe import RunRecipe

    d = gpt2_dir[0]
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(d / "prompts.jsonl", work / "mine.jsonl")
    monkeypatch.chdir(work)
    assert main(["run", "--model", str(d), "--prompts", "mine.jsonl", "--bos", "off", "--threshold", "0.01", "--quiet",
                 "--out", "c.json", "--journal", "j.acdc"]) == 0
    reader = JournalReader(work / "j.acdc", readonly=True)
    try:
        meta = reader.meta
    finally:
        reader.close()
    recipe = RunRecipe.from_meta(meta)
    assert recipe.prompts == str(work / "mine.jsonl") and recipe.bos == "off"
    assert recipe.outputs.out == str(work / "c.json")
    assert meta["recipe"]["prompts"] == str(work / "mine.jsonl") and meta["recipe"]["bos"] == "off"
    capsys.readouterr()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["resume", str(work / "j.acdc")]) == 0
    assert "nothing to resume" in capsys.readouterr().err
