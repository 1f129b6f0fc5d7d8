"""The families as files, and the 2026 families and sliding windows on tiny random Hugging Face
checkpoints (tests/hf_families.py): the registries are the files; logits equal transformers' own in
float64; fast = plain event by event in float64 under all three ablations; edge counts follow the
documented formula; a run from a task directory gives the same circuit on both engines.

transformers computes RMSNorm in float32 even in a float64 model (LlamaRMSNorm, GemmaRMSNorm, ... cast
to float32 and back), so against transformers as it is, RMS families agree to float32 rounding; with
those norms run in float64 (`float64_norms`, the only change) they agree to float64 rounding."""

from __future__ import annotations

import ast
import types
from pathlib import Path

import orjson
import pytest
import torch

import tasks
from acdc_tui.cli.main import main
from acdc_tui.core.architecture import FAMILIES, Architecture, describe_hf_config, edge_count
from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import build_graph
from acdc_tui.models import backend
from acdc_tui.models.convert import CONVERTERS
from tests.hf_families import WINDOW, write_checkpoint, write_tokens
from tests.test_fast_engine import compare_engines

ROOT = Path(__file__).resolve().parents[1] / "acdc_tui"
# every case: the families and model types as users meet them, windows shorter than the prompts
CASES = ["gpt2", "pythia", "gptj", "llama", "llama3", "qwen2", "qwen2-window", "mistral", "mistral-window", "gemma", "qwen3", "qwen3-window", "phi3"]
NEW = ["llama3", "qwen2-window", "mistral-window", "gemma", "qwen3", "qwen3-window", "phi3"]  # the older cases: tests/test_families.py
LAYER_NORM = ("gpt2", "pythia", "gptj")
# (family, key/value heads or None, layers' windows)
SHAPE = {
    "llama3": ("llama", 2, [None, None]), "qwen2-window": ("llama", 2, [None, WINDOW]), "mistral-window": ("llama", 1, [WINDOW, WINDOW]),
    "gemma": ("gemma", 1, [None, None]), "qwen3": ("qwen3", 2, [None, None]), "qwen3-window": ("qwen3", 2, [None, WINDOW]),
    "phi3": ("phi3", 2, [WINDOW + 1, WINDOW + 1]),
}
THRESHOLD = {"gemma": 0.002}  # Gemma's tiny checkpoint has small logits (embedding scaled, norms near 1): smaller Δs


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf2026")
    out = {}
    for case in CASES:
        d = root / case
        hf = write_checkpoint(d, case)
        out[case] = (write_tokens(d), hf)
    return out


def float64_norms(hf):
    """The Hugging Face model with its RMSNorms computed in float64 (transformers casts them to float32)."""
    for m in hf.modules():
        name = type(m).__name__
        if name.endswith("RMSNorm"):
            eps = getattr(m, "variance_epsilon", getattr(m, "eps", None))

            def forward(self, x, eps=eps, one_plus="Gemma" in name):
                y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
                return y * (1.0 + self.weight) if one_plus else self.weight * y

            m.forward = types.MethodType(forward, m)
    return hf


# ---------------------------------------------------------------- the registries are the files


def test_a_family_is_its_two_files_of_the_same_name():
    wiring = {f.NAME for f in FAMILIES}
    files = {p.stem for p in (ROOT / "core" / "architecture").glob("*.py")} - {"__init__", "families", "layout", "hf_config"}
    assert wiring == files
    converters = {p.stem for p in (ROOT / "models" / "families").glob("*.py")} - {"__init__"}
    assert set(CONVERTERS) == converters
    assert {f.NAME for f in FAMILIES if f.SUPPORTED} <= converters  # every supported family converts its weights
    for f in FAMILIES:
        assert {"NAME", "MODEL_TYPES", "SUPPORTED", "unsupported", "model_config"} <= set(vars(f))


def test_family_files_import_no_other_family():
    """Wiring files import only the shared helpers (no registry, no sibling): no import cycle."""
    names = {f.NAME for f in FAMILIES}
    for folder in (ROOT / "core" / "architecture", ROOT / "models" / "families"):
        for name in names & {p.stem for p in folder.glob("*.py")}:
            tree = ast.parse((folder / f"{name}.py").read_text())
            imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
            assert not any(m.rsplit(".", 1)[-1] in names | {"families", "convert"} for m in imported), (name, imported)


# ---------------------------------------------------------------- exactness against transformers


@pytest.mark.parametrize("case", CASES)
def test_float64_logits_equal_transformers(checkpoints, case):
    """Prompts of 20 positions, longer than every window (4 or 5)."""
    d, hf = checkpoints[case]
    tokens = torch.randint(0, 40, (3, 20), generator=torch.Generator().manual_seed(2))
    ours = backend.logits(backend.load_checkpoint(str(d), "cpu", torch.float64), tokens)
    hf64 = type(hf).from_pretrained(str(d), dtype=torch.float64).eval()
    with torch.no_grad():
        theirs = hf64(tokens).logits
        exact = float64_norms(hf64)(tokens).logits
    scale = max(1.0, float(theirs.abs().max()))
    # transformers' RMSNorm rounds to float32: agreement to float32 rounding; LayerNorm families: float64
    torch.testing.assert_close(ours, theirs, rtol=0, atol=(1e-12 if case in LAYER_NORM else 2e-5) * scale)
    torch.testing.assert_close(ours, exact, rtol=0, atol=1e-12 * scale)


@pytest.mark.parametrize("case", [c for c in NEW if SHAPE[c][2] != [None, None]])
def test_windows_change_the_logits_of_longer_prompts(checkpoints, case):
    """The window is real on these prompts: without it the logits differ (so the test above checks the mask)."""
    model = backend.load_checkpoint(str(checkpoints[case][0]), "cpu", torch.float64)
    tokens = torch.randint(0, 40, (2, 12), generator=torch.Generator().manual_seed(5))
    windowed = backend.logits(model, tokens)
    for block in model.blocks:
        block.attn.window = None
    assert (backend.logits(model, tokens) - windowed).abs().max() > 1e-3
    torch.testing.assert_close(backend.logits(model, tokens[:, :WINDOW]), windowed[:, :WINDOW], rtol=0, atol=1e-12)  # within the window: no change


def test_the_window_admits_the_keys_transformers_admits():
    """Our mask for a window w is transformers' sliding_window_overlay on its causal mask, for every (q, k)."""
    from transformers.masking_utils import and_masks, causal_mask_function, sliding_window_overlay

    from acdc_tui.models.config import parse_config
    from acdc_tui.models.hooked import Attention

    for w in (1, 2, 3, 7):
        cfg = parse_config({"n_layers": 1, "d_model": 8, "n_ctx": 16, "d_head": 4, "d_vocab": 5, "use_local_attn": True, "attn_types": ["local"], "window_size": w})
        ours = Attention(cfg, 0, None).mask(10, "cpu")
        theirs = and_masks(causal_mask_function, sliding_window_overlay(w))
        zero, q, k = torch.tensor(0), torch.arange(10)[:, None], torch.arange(10)[None, :]
        assert torch.equal(ours, theirs(zero, zero, q, k))


# ---------------------------------------------------------------- graph, engines, end to end


@pytest.mark.parametrize("case", NEW)
def test_config_and_edge_count(checkpoints, case):
    family, kv, windows = SHAPE[case]
    model = tasks.load_task(None, str(checkpoints[case][0]), "cpu", torch.float64).model
    assert model.cfg.family == family and [b.attn.window for b in model.blocks] == windows
    arch = backend.architecture(model)
    assert arch.kv_heads == kv and not arch.parallel_attn_mlp
    assert len(build_graph(arch).tested_edges) == edge_count(arch)


def _task(checkpoints, case):
    return tasks.load_task(None, str(checkpoints[case][0]), "cpu", torch.float64)


ABLATIONS = [(case, ablation) for case in NEW for ablation in ("corrupted", "zero", "mean")]


@pytest.mark.parametrize("case, ablation", ABLATIONS, ids=[f"{c}-{a}" for c, a in ABLATIONS])
def test_fast_and_plain_engines_agree_event_by_event(checkpoints, case, ablation, request):
    threshold = THRESHOLD.get(case, 0.05) / (10 if ablation == "zero" else 1)
    compare_engines(_task(checkpoints, case), request, threshold, zero=ablation == "zero", mean=ablation == "mean")


@pytest.mark.parametrize("case", NEW)
def test_a_task_directory_runs_end_to_end_on_both_engines(checkpoints, case, tmp_path):
    """`acdc-tui run --task-dir DIR` (the checkpoint with its tokens.pt), float64: the same circuit from both engines."""
    present = {}
    for engine in ("plain", "fast"):
        out = tmp_path / f"{engine}.json"
        args = ["run", "--task-dir", str(checkpoints[case][0]), "--threshold", str(THRESHOLD.get(case, 0.05)), "--engine", engine, "--dtype", "float64", "--quiet", "--out", str(out)]
        assert main(args) == 0
        circuit = orjson.loads(out.read_bytes())
        assert circuit["complete"] and circuit["settings"]["engine"] == engine and circuit["model"]["config"]["family"] == SHAPE[case][0]
        present[engine] = {(e["sender"]["hook"], e["sender"]["head"], e["receiver"]["hook"], e["receiver"]["head"]) for e in circuit["edges"] if e["present"]}
        assert circuit["summary"]["edges_total"] == edge_count(Architecture.from_config(circuit["model"]["config"]))
    assert present["plain"] == present["fast"]
    assert 0 < len(present["fast"]) < circuit["summary"]["edges_total"]


# ---------------------------------------------------------------- configs as transformers reads them


def _qwen2(**kw):
    return {"model_type": "qwen2", "num_hidden_layers": 4, "num_attention_heads": 4, "hidden_size": 64, "intermediate_size": 96,
            "max_position_embeddings": 64, "vocab_size": 40, **kw}


@pytest.mark.parametrize(("kw", "types_"), [
    ({"use_sliding_window": False, "sliding_window": 8, "max_window_layers": 1}, None),  # no window without use_sliding_window
    ({"use_sliding_window": True, "sliding_window": 8, "max_window_layers": 2}, ["global", "global", "local", "local"]),
    ({"use_sliding_window": True, "sliding_window": 8}, None),  # max_window_layers 28 by default: no layer of 4 slides
    ({"use_sliding_window": True, "sliding_window": 8, "layer_types": ["sliding_attention", "full_attention"] * 2}, ["local", "global"] * 2),
])
def test_qwen2_windows_follow_transformers(kw, types_):
    from transformers import Qwen2Config

    cfg = describe_hf_config(_qwen2(**kw))
    assert cfg.get("attn_types") == types_ and (types_ is None or cfg["window_size"] == 8)
    hf = Qwen2Config(**{k: v for k, v in _qwen2(**kw).items() if k != "model_type"})
    theirs = [t == "sliding_attention" and hf.sliding_window is not None for t in hf.layer_types]
    assert theirs == [t == "local" for t in (types_ or ["global"] * 4)]


@pytest.mark.parametrize(("hf", "needle"), [
    ({"model_type": "phi3", "rope_scaling": {"type": "longrope", "short_factor": [1.0], "long_factor": [2.0]}}, "'longrope'"),
    ({"model_type": "llama", "rope_scaling": {"rope_type": "dynamic", "factor": 2.0}}, "'dynamic'"),
    ({"model_type": "gemma", "use_bidirectional_attention": True}, "bidirectional"),
])
def test_what_cannot_be_modelled_exactly_is_refused_in_one_line(hf, needle):
    with pytest.raises(UserError, match=needle) as e:
        describe_hf_config(hf)
    assert len(str(e.value).splitlines()) == 1


# Real models' configs, written by hand from their published config.json (no network), with the
# tested-edge count each gives (docs/families.md quotes them).
REAL_CONFIGS = {
    "gemma-2b": ({"model_type": "gemma", "num_hidden_layers": 18, "num_attention_heads": 8, "num_key_value_heads": 1, "hidden_size": 2048, "head_dim": 256,
                  "intermediate_size": 16384, "max_position_embeddings": 8192, "vocab_size": 256000}, 15832),
    "qwen3-0.6b": ({"model_type": "qwen3", "num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8, "hidden_size": 1024, "head_dim": 128,
                    "intermediate_size": 3072, "max_position_embeddings": 40960, "vocab_size": 151936, "use_sliding_window": False, "sliding_window": None,
                    "max_window_layers": 28}, 214803),
    "phi-3-mini-4k": ({"model_type": "phi3", "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "hidden_size": 3072,
                       "intermediate_size": 8192, "max_position_embeddings": 4096, "vocab_size": 32064, "sliding_window": 2047, "rope_scaling": None}, 1595953),
    "mistral-7b-v0.1": ({"model_type": "mistral", "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "hidden_size": 4096,
                         "intermediate_size": 14336, "max_position_embeddings": 32768, "vocab_size": 32000, "sliding_window": 4096}, 807217),
}


@pytest.mark.parametrize("name", sorted(REAL_CONFIGS))
def test_real_models_edge_counts(name):
    hf, expected = REAL_CONFIGS[name]
    arch = Architecture.from_config(describe_hf_config(hf))
    assert edge_count(arch) == len(build_graph(arch).tested_edges) == expected
