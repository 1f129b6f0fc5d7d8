"""Every supported family on tiny random Hugging Face checkpoints (tests/hf_families.py): our path's
logits equal the Hugging Face model's, the plain engine's patching equals hand-built hooks, the fast
and plain engines agree event by event in float64, edge counts follow the documented formula, the
CLI runs them end to end on both engines with identical circuits; anything else is refused in one line."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest
import torch

import tasks
from acdc_tui.cli.main import main
from acdc_tui.core.architecture import edge_count
from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import Node, build_graph
from acdc_tui.models import backend
from tests.helpers import head_input_hook, run_offline
from tests.hf_families import write_checkpoint, write_tokens
from tests.test_fast_engine import compare_engines

FAMILIES = ["llama", "qwen2", "mistral", "pythia", "gptj", "gpt2"]
# (family, threshold, zero ablation): thresholds between the 50th and 90th percentile of the Δs
CASES = [(f, t, z) for f in ("llama", "qwen2", "mistral", "pythia", "gptj") for t, z in ((0.05, False), (0.3, False), (0.05, True))]
CASES += [("gpt2", 1e-5, False), ("gpt2", 1e-3, True)]
# architecture facts per family: (key/value heads, parallel attention and MLP)
SHAPE = {"llama": (2, False), "qwen2": (2, False), "mistral": (1, False), "pythia": (None, True), "gptj": (None, True), "gpt2": (None, False)}


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory):
    """family -> (a task directory holding the checkpoint and tokens.pt, the Hugging Face model)."""
    root = tmp_path_factory.mktemp("hf")
    out = {}
    for family in FAMILIES:
        d = root / family
        hf = write_checkpoint(d, family)
        out[family] = (write_tokens(d), hf)
    return out


def _task(checkpoints, family):
    return tasks.load_task(None, str(checkpoints[family][0]), "cpu", torch.float64)


@pytest.mark.parametrize("family", FAMILIES)
def test_logits_equal_the_hugging_face_model(checkpoints, family):
    d, hf = checkpoints[family]
    tokens = torch.randint(0, 40, (3, 20), generator=torch.Generator().manual_seed(2))
    model = backend.load_checkpoint(str(d), "cpu", torch.float32)
    with torch.no_grad():
        theirs = hf(tokens).logits
    # float32 on both sides; transformers computes RMSNorm and rotary tables in float32 even in float64
    torch.testing.assert_close(backend.logits(model, tokens), theirs, rtol=0, atol=2e-5 * max(1.0, float(theirs.abs().max())))


@pytest.mark.parametrize("family", FAMILIES)
def test_edge_count_is_the_documented_formula(checkpoints, family):
    task = _task(checkpoints, family)
    arch = backend.architecture(task.model)
    assert (arch.n_kv_heads, arch.parallel_attn_mlp) == SHAPE[family]
    graph = build_graph(arch)
    assert len(graph.tested_edges) == edge_count(arch)
    kv = arch.kv_heads
    assert {n.head for n in graph.nodes if n.name == "blocks.1.hook_k_input"} == set(range(kv))
    # parallel blocks: a layer's heads do not feed its own MLP
    assert graph.has_edge(Node("blocks.1.attn.hook_result", 0), Node("blocks.1.hook_mlp_in")) is not arch.parallel_attn_mlp


def _caches(task, names):
    return backend.capture(task.model, task.clean, names), backend.capture(task.model, task.corrupted, names)


@pytest.mark.parametrize("family", FAMILIES)
def test_plain_engine_addition_edge_equals_hand_built_hooks(checkpoints, family):
    """embed -> layer 1's k input of key/value head 0 absent: that input is the clean residual with the
    clean embedding swapped for the corrupted one; everything else as in the clean run."""
    from tests.helpers import experiment

    exp = experiment(task_dir=checkpoints[family][0], engine="plain")
    clean, corrupt = _caches(exp.task, {"blocks.1.hook_resid_pre", "blocks.0.hook_resid_pre"})
    swapped = clean["blocks.1.hook_resid_pre"] - clean["blocks.0.hook_resid_pre"] + corrupt["blocks.0.hook_resid_pre"]

    want = backend.logits(exp.task.model, exp.task.clean, [("blocks.1.hook_k_input", head_input_hook(swapped))])
    got = exp.run.engine.logits({Node("blocks.1.hook_k_input", 0): {Node("blocks.0.hook_resid_pre")}})
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("family", FAMILIES)
def test_plain_engine_direct_edge_equals_hand_built_hooks(checkpoints, family):
    """Layer 0's v of the last key/value head loses its input: it takes its corrupted value."""
    from tests.helpers import experiment

    exp = experiment(task_dir=checkpoints[family][0], engine="plain")
    head = exp.graph.spec.kv_heads - 1
    _, corrupt = _caches(exp.task, {"blocks.0.attn.hook_v"})

    def hook(x, hook):
        x = x.clone()
        x[:, :, head] = corrupt["blocks.0.attn.hook_v"][:, :, head]
        return x

    want = backend.logits(exp.task.model, exp.task.clean, [("blocks.0.attn.hook_v", hook)])
    got = exp.run.engine.logits({Node("blocks.0.attn.hook_v", head): {Node("blocks.0.hook_v_input", head)}})
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("family, threshold, zero", CASES, ids=[f"{f}-{t}{'-zero' if z else ''}" for f, t, z in CASES])
def test_fast_and_plain_engines_agree_event_by_event(checkpoints, family, threshold, zero, request):
    compare_engines(_task(checkpoints, family), request, threshold, zero)


@pytest.mark.parametrize("family", ["llama", "pythia"])
def test_fast_and_plain_engines_agree_under_mean_ablation(checkpoints, family, request):
    compare_engines(_task(checkpoints, family), request, 0.05, mean=True)


@pytest.mark.parametrize("family", ["llama", "pythia", "qwen2"])
def test_cli_runs_a_checkpoint_end_to_end_on_both_engines(checkpoints, family, tmp_path):
    """`acdc-tui run --model DIR --task-dir TD` (the task directory's own model replaced) on both engines."""
    from tests.conftest import SMALL_CONFIG, write_task_dir

    task_dir = write_task_dir(tmp_path / "td", {**SMALL_CONFIG, "d_vocab": 40}, seed=3)
    present = {}
    for engine in ("plain", "fast"):
        out = tmp_path / f"{engine}.json"
        args = ["run", "--model", str(checkpoints[family][0]), "--task-dir", str(task_dir), "--threshold", "0.05", "--engine", engine, "--dtype", "float64", "--quiet", "--out", str(out)]
        assert main(args) == 0
        circuit = orjson.loads(out.read_bytes())
        assert circuit["complete"] and circuit["settings"]["engine"] == engine
        present[engine] = {(e["sender"]["hook"], e["sender"]["head"], e["receiver"]["hook"], e["receiver"]["head"]) for e in circuit["edges"] if e["present"]}
        assert circuit["summary"]["edges_total"] == edge_count(backend.architecture(tasks.load_task(None, str(checkpoints[family][0])).model))
    assert present["plain"] == present["fast"]
    assert 0 < len(present["fast"]) < circuit["summary"]["edges_total"]


def test_a_real_subprocess_runs_a_gqa_checkpoint(checkpoints, tmp_path):
    out = tmp_path / "c.json"
    r = subprocess.run([sys.executable, "-m", "acdc_tui", "run", "--task-dir", str(checkpoints["llama"][0]), "--threshold", "0.05", "--quiet", "--out", str(out)],
                       capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    config = orjson.loads(out.read_bytes())["model"]["config"]
    assert config["family"] == "llama" and config["n_key_value_heads"] == 2
    assert main(["dot", str(out), "-o", str(tmp_path / "c.dot")]) == 0  # the file's config rebuilds its graph


@pytest.mark.parametrize(("family", "needle"), [("gemma2-dynamic", "changes its frequencies"), ("opt", "model_type 'opt'")])
def test_other_architectures_are_refused_in_one_line_before_loading_weights(family, needle, tmp_path, capsys):
    from tests.hf_families import hf_config

    d = tmp_path / family
    hf_config(family).save_pretrained(d)  # config.json only: refused before any weight is read
    with pytest.raises(UserError, match=needle):
        backend.load_checkpoint(str(d))
    task_dir = write_tokens(tmp_path / "tokens")
    from tests.conftest import SMALL_CONFIG, write_task_dir

    write_task_dir(task_dir, {**SMALL_CONFIG, "d_vocab": 40}, seed=3)
    assert main(["run", "--model", str(d), "--task-dir", str(task_dir), "--threshold", "0.1", "--out", str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_transformer_lens_3_processing_keeps_log_probabilities(checkpoints):
    """fold_ln, centring and value-bias folding (the hub tasks' settings) change activations, not outputs."""
    d = str(checkpoints["gpt2"][0])
    plain = backend.load_checkpoint(d, "cpu", torch.float64)
    processed = backend.load_checkpoint(d, "cpu", torch.float64, fold_ln=True, center_writing_weights=True, center_unembed=True, fold_value_biases=True)
    assert processed.cfg.normalization_type == "LNPre" and not processed.blocks[0].attn.b_V.any()
    tokens = torch.randint(0, 40, (3, 12), generator=torch.Generator().manual_seed(3))
    a, b = (torch.log_softmax(backend.logits(m, tokens), -1) for m in (plain, processed))
    torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
    assert not torch.allclose(plain.blocks[0].attn.W_Q, processed.blocks[0].attn.W_Q)


def test_induction_redwood_fails_only_for_lack_of_network(tmp_path):
    r = run_offline("induction-redwood", tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "'redwood_attn_2l'" in lines[0] and "Hugging Face cache" in lines[0], r.stderr


def test_a_shortformer_model_runs_both_engines_alike(tmp_path, request):
    """redwood_attn_2l's shape (attention-only, LayerNorm, shortformer positions) on our transformer."""
    from tests.conftest import ATTN_ONLY_CONFIG, write_task_dir

    d = write_task_dir(tmp_path / "short", {**ATTN_ONLY_CONFIG, "normalization_type": "LN", "positional_embedding_type": "shortformer"}, seed=4)
    for zero in (False, True):
        compare_engines(tasks.load_task(None, str(d), "cpu", torch.float64), request, 0.01, zero)


# Real models' configs, written by hand from their published config.json (no network), with the
# tested-edge count each gives: the graph's count and the formula's agree.
REAL_CONFIGS = {
    "gpt2": ({"model_type": "gpt2", "n_layer": 12, "n_head": 12, "n_embd": 768, "n_positions": 1024, "vocab_size": 50257}, 32923),
    "pythia-160m": ({"model_type": "gpt_neox", "num_hidden_layers": 12, "num_attention_heads": 12, "hidden_size": 768, "intermediate_size": 3072,
                     "max_position_embeddings": 2048, "vocab_size": 50304, "rotary_pct": 0.25, "use_parallel_residual": True}, 32779),
    "qwen2.5-0.5b": ({"model_type": "qwen2", "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2, "hidden_size": 896,
                      "intermediate_size": 4864, "max_position_embeddings": 32768, "vocab_size": 151936, "use_sliding_window": False}, 80245),
    "llama-3.2-1b": ({"model_type": "llama", "num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_size": 2048,
                      "head_dim": 64, "intermediate_size": 8192, "max_position_embeddings": 131072, "vocab_size": 128256}, 196633),
}


@pytest.mark.parametrize("name", sorted(REAL_CONFIGS))
def test_real_models_edge_counts(name):
    from acdc_tui.core.architecture import Architecture, describe_hf_config

    hf, expected = REAL_CONFIGS[name]
    arch = Architecture.from_config(describe_hf_config(hf))
    assert edge_count(arch) == len(build_graph(arch).tested_edges) == expected


def test_a_transformer_lens_format_hub_repo_loads_onto_our_transformer(tmp_path, monkeypatch):
    """redwood_attn_2l's repo format (TL-style config.json with shortformer_pos, a *final.pth state dict),
    served from a local snapshot: the logits are TransformerLens 3.9's on the same weights."""
    from pathlib import Path

    from acdc_tui.models import hub

    case = torch.load(Path(__file__).parent / "data" / "tl39_reference.pt", weights_only=False)["cases"]["shortformer"]
    cfg = case["config"]
    repo_config = {**{k: cfg[k] for k in ("d_model", "n_layers", "d_head", "n_heads", "n_ctx", "d_vocab", "act_fn", "attn_only")}, "d_mlp": 0, "normalization": "LN", "shortformer_pos": True}
    (tmp_path / "config.json").write_bytes(orjson.dumps(repo_config))
    torch.save(case["weights"], tmp_path / "model_final.pth")
    monkeypatch.setattr(hub, "_snapshot", lambda repo, patterns: str(tmp_path))
    model = backend.load_pretrained("redwood_attn_2l", "cpu", torch.float64, fold_ln=False, center_writing_weights=False, center_unembed=False)
    assert model.cfg.positional_embedding_type == "shortformer"
    want = case["logits"]
    torch.testing.assert_close(backend.logits(model, case["tokens"]), want, rtol=0, atol=1e-10 * max(1.0, float(want.abs().max())))
