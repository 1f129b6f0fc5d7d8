"""Post-norm families (Gemma-2, Gemma-3 text, OLMo-2) on tiny random Hugging Face checkpoints: logits
equal to transformers' own in float64, the graph's post-attention node (docs/postnorm-graph.md) and its
edge count, hand checks of what its edges mean, fast = plain event by event under all three
ablations, and end to end from a task directory on both engines."""

from __future__ import annotations

import importlib
import math

import orjson
import pytest
import torch

import tasks
from acdc_tui.cli.main import main
from acdc_tui.core.architecture import Architecture, edge_count
from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import EdgeType, Node, build_graph
from acdc_tui.models import backend
from tests.hf_families import COMMON, VOCAB, write_tokens
from tests.test_fast_engine import compare_engines

WINDOW = 4  # local layers' window: shorter than every prompt below
POS = 10  # task prompts' length
FAMILIES = ["gemma2", "gemma3_text", "olmo2"]


def hf_config(family: str):
    import transformers as T

    return {
        # soft caps low enough to bite on these logits; query_pre_attn_scalar other than head_dim
        "gemma2": lambda: T.Gemma2Config(**COMMON, num_key_value_heads=2, head_dim=16, sliding_window=WINDOW, attn_logit_softcapping=5.0,
                                          final_logit_softcapping=3.0, query_pre_attn_scalar=24),
        # local, global layers; local rope base and a linear-scaled global rope
        "gemma3_text": lambda: T.Gemma3TextConfig(**COMMON, num_key_value_heads=2, head_dim=16, sliding_window=WINDOW, layer_types=["sliding_attention", "full_attention"],
                                                   rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 100.0},
                                                                    "full_attention": {"rope_type": "linear", "factor": 4.0, "rope_theta": 10000.0}},
                                                   query_pre_attn_scalar=24),
        "olmo2": lambda: T.Olmo2Config(**COMMON, num_key_value_heads=2, tie_word_embeddings=False, eos_token_id=None, pad_token_id=None),
    }[family]()


def sharpen(hf) -> None:
    """Norm weights off 1 and larger matrices: a random tiny model whose norms and heads matter."""
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if p.ndim == 1:
                p.add_(torch.randn_like(p) * 0.2)
            elif "emb" not in name:
                p.mul_(3.0)


def write_checkpoint(directory, family: str, seed: int = 0):
    """A random checkpoint, weights scaled up and norms perturbed so that edges matter and a conversion
    slip shows; the Hugging Face model (float32, eager attention: the one with soft-capping)."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    config = hf_config(family)
    config._attn_implementation = "eager"
    hf = AutoModelForCausalLM.from_config(config).eval()
    sharpen(hf)
    hf.save_pretrained(directory)
    return hf


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """family -> task directory (checkpoint + tokens.pt, prompts longer than the window)."""
    root = tmp_path_factory.mktemp("postnorm")
    out = {}
    for family in FAMILIES:
        d = root / family
        write_checkpoint(d, family)
        out[family] = write_tokens(d, pos=POS)
    return out


def _task(checkpoints, family):
    return tasks.load_task(None, str(checkpoints[family]), "cpu", torch.float64)


def hf_float64(directory, exact: bool):
    """transformers' model in float64; `exact`: with its RMSNorms and softmax computed in float64 too
    (transformers upcasts them to float32 whatever the model's dtype)."""
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch.float64, attn_implementation="eager").eval()
    if not exact:
        return hf, lambda tokens: hf(tokens).logits
    module = importlib.import_module(type(hf).__module__)

    def norm(self, x):
        y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + getattr(self, "eps", getattr(self, "variance_epsilon", None)))
        return y * (1.0 + self.weight) if "Gemma" in type(self).__name__ else self.weight * y

    def run(tokens):
        softmax = torch.nn.functional.softmax
        saved = {n: getattr(module, n).forward for n in dir(module) if n.endswith("RMSNorm")}
        try:
            for n in saved:
                getattr(module, n).forward = norm
            torch.nn.functional.softmax = lambda x, dim=None, dtype=None, **kw: softmax(x, dim=dim)
            return hf(tokens).logits
        finally:
            torch.nn.functional.softmax = softmax
            for n, f in saved.items():
                getattr(module, n).forward = f

    return hf, run


@pytest.mark.parametrize("family", FAMILIES)
def test_logits_equal_transformers_in_float64(checkpoints, family):
    tokens = torch.randint(0, VOCAB, (3, 20), generator=torch.Generator().manual_seed(2))  # 20 > window
    ours = backend.logits(backend.load_checkpoint(str(checkpoints[family]), "cpu", torch.float64), tokens)
    with torch.no_grad():
        _, exact = hf_float64(checkpoints[family], exact=True)
        _, theirs = hf_float64(checkpoints[family], exact=False)
        want, as_is = exact(tokens), theirs(tokens)
    scale = max(1.0, float(want.abs().max()))
    # against transformers with float64 norms and softmax: rounding only
    torch.testing.assert_close(ours, want, rtol=0, atol=1e-12 * scale)
    # against transformers as it is (float32 norms and softmax inside a float64 model)
    torch.testing.assert_close(ours, as_is, rtol=0, atol=1e-5 * scale)


def test_the_configs_are_read_as_transformers_reads_them(checkpoints):
    cfg = {f: backend.load_checkpoint(str(checkpoints[f]), "cpu", torch.float64).cfg for f in FAMILIES}
    g2, g3, o2 = cfg["gemma2"], cfg["gemma3_text"], cfg["olmo2"]
    assert g2.post_norms and g2.pre_norms and g2.attn_scores_soft_cap == 5.0 and g2.output_logits_soft_cap == 3.0
    assert g2.attn_types == ["local", "global"] and g2.window_size == WINDOW and math.isclose(g2.attn_scale, 24**0.5)
    assert g3.use_qk_norm and g3.attn_scores_soft_cap <= 0 and g3.attn_types == ["local", "global"]
    assert o2.post_norms and not o2.pre_norms and o2.qk_norm_full_width
    m = backend.load_checkpoint(str(checkpoints["gemma3_text"]), "cpu", torch.float64)
    local, glob = (b.attn.rotary for b in m.blocks)
    assert local is not glob and not torch.equal(local.inv_freq, glob.inv_freq)


@pytest.mark.parametrize("family", FAMILIES)
def test_edge_count_is_the_documented_formula(checkpoints, family):
    arch = backend.architecture(_task(checkpoints, family).model)
    assert arch.post_norm and arch.n_kv_heads == 2
    graph = build_graph(arch)
    L, H, G, I = 2, 4, 2, 1
    W = 2  # per layer: the normed attention output and the MLP output
    by_hand = sum((H + 2 * G) * (I + l * W) + (I + l * W + 1) + H for l in range(L)) + (I + L * W) + L * (H + 2 * G)
    assert len(graph.tested_edges) == edge_count(arch) == by_hand == 67
    # heads feed their layer's post-norm only; the post-norm's output feeds every later reader
    a = lambda l, h=None: Node(f"blocks.{l}.attn.hook_result", h)  # noqa: E731
    s, o = Node("blocks.0.hook_attn_sum"), Node("blocks.0.hook_attn_out")
    assert [e.sender for e in graph.incoming[s]] == [a(0, h) for h in range(H - 1, -1, -1)]
    assert all(e.type is EdgeType.ADDITION for e in graph.incoming[s])
    assert [e.receiver for e in graph.outgoing(a(0, 1))] == [s]
    assert graph.edge(s, o).type is EdgeType.PLACEHOLDER
    readers = {e.receiver for e in graph.outgoing(o)}
    assert Node("blocks.0.hook_mlp_in") in readers and Node("blocks.1.hook_q_input", 3) in readers and graph.output_node in readers
    assert Node("blocks.1.hook_attn_sum") not in readers


def test_gpt2_style_graphs_are_unchanged_and_post_norm_counts_in_closed_form():
    for L, H, G, attn_only in ((2, 4, 4, False), (3, 8, 2, False), (2, 4, 1, True), (12, 12, 12, False)):
        kv = None if G == H else G
        plain = build_graph(Architecture(L, H, attn_only, n_kv_heads=kv))
        assert not any(n.kind in ("attn_sum", "attn_out") for n in plain.nodes)
        post = Architecture(L, H, attn_only, n_kv_heads=kv, post_norm=True)
        assert len(build_graph(post).tested_edges) == edge_count(post)
    assert edge_count(Architecture(10**15, 8, n_kv_heads=4, post_norm=True)) > 0  # closed form: no loop over layers


def _caches(task, names):
    return backend.capture(task.model, task.clean, names), backend.capture(task.model, task.corrupted, names)


def _replace(value):
    return lambda x, hook: value


@pytest.mark.parametrize("family", FAMILIES)
def test_the_post_norm_node_means_what_the_docs_say(checkpoints, family):
    """Hand-built hooks against the plain and fast engines' patching of the new node's edges."""
    from tests.helpers import experiment

    plain = experiment(task_dir=checkpoints[family], engine="plain")
    fast = experiment(task_dir=checkpoints[family], engine="fast")
    assert fast.run.engine.fallback is None, fast.run.engine.fallback_reason
    task, model = plain.task, plain.task.model
    H = model.cfg.n_heads
    names = {"blocks.1.attn.hook_result", "blocks.1.hook_attn_sum", "blocks.0.hook_attn_out", "blocks.1.hook_resid_pre", "blocks.1.hook_q_input"}
    clean, corrupt = _caches(task, names)
    b_O = model.blocks[1].attn.b_O.detach()
    assert torch.allclose(clean["blocks.1.hook_attn_sum"], clean["blocks.1.attn.hook_result"].sum(2) + b_O, rtol=0, atol=1e-12)
    s1 = Node("blocks.1.hook_attn_sum")

    def both(absent):
        got = plain.run.engine.logits(absent)
        torch.testing.assert_close(fast.run.engine.logits(absent)[:, :], got[:, fast.run.engine.positions], rtol=1e-9, atol=1e-9)
        return got

    # every edge present: the clean forward
    torch.testing.assert_close(both({}), backend.logits(model, task.clean), rtol=0, atol=0)
    # every head of layer 1 absent: the post-norm's input is the ablated heads' sum (with the output bias)
    seen = {}
    ablated_sum = corrupt["blocks.1.attn.hook_result"].sum(2) + b_O
    want = backend.logits(model, task.clean, [("blocks.1.hook_attn_sum", _replace(ablated_sum))])
    all_heads = {s1: {Node("blocks.1.attn.hook_result", h) for h in range(H)}}
    # (seen after the norm: a hook of ours at hook_attn_sum would run before the engine's patch)
    with model.hooks(fwd_hooks=[("blocks.1.hook_attn_out", lambda x, hook: seen.setdefault("x", x.clone()))]):
        got = both(all_heads)
    with torch.no_grad():
        torch.testing.assert_close(seen["x"], model.blocks[1].ln1_post(ablated_sum), rtol=0, atol=1e-12)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    # one head absent: clean sum with that head's clean result swapped for its corrupted one
    h = 2
    swapped = clean["blocks.1.hook_attn_sum"] - clean["blocks.1.attn.hook_result"][:, :, h] + corrupt["blocks.1.attn.hook_result"][:, :, h]
    want = backend.logits(model, task.clean, [("blocks.1.hook_attn_sum", _replace(swapped))])
    torch.testing.assert_close(both({s1: {Node("blocks.1.attn.hook_result", h)}}), want, rtol=1e-10, atol=1e-10)
    # the normed output -> a later head's q input: that input sees the corrupted normed output
    q_in = clean["blocks.1.hook_resid_pre"] - clean["blocks.0.hook_attn_out"] + corrupt["blocks.0.hook_attn_out"]

    def q_hook(x, hook):
        x = x.clone()
        x[:, :, 0] = q_in
        return x

    want = backend.logits(model, task.clean, [("blocks.1.hook_q_input", q_hook)])
    torch.testing.assert_close(both({Node("blocks.1.hook_q_input", 0): {Node("blocks.0.hook_attn_out")}}), want, rtol=1e-10, atol=1e-10)


def test_olmo2_full_width_qk_norm_per_head_semantics(checkpoints):
    """Each head's q is its slice of the full-width norm of the full-width projection of its OWN input:
    the same as the model's when all heads read one input; a patched input of head 0 changes head 0's
    q only."""
    from acdc_tui.models.hooked import full_width_heads, rms_full_width

    model = backend.load_checkpoint(str(checkpoints["olmo2"]), "cpu", torch.float64)
    attn = model.blocks[0].attn
    x = torch.randn(2, 5, model.cfg.d_model, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    H, D, dh = attn.W_Q.shape
    W = attn.W_Q.permute(1, 0, 2).reshape(D, H * dh)
    whole = rms_full_width(x @ W + attn.b_Q.reshape(-1), attn.q_norm_w, model.cfg.eps).view(2, 5, H, dh)
    per_head = full_width_heads(x[:, :, None].expand(-1, -1, H, -1), attn.W_Q, attn.b_Q, attn.q_norm_w, model.cfg.eps)
    torch.testing.assert_close(per_head, whole, rtol=0, atol=1e-12)
    y = x[:, :, None].expand(-1, -1, H, -1).clone()
    y[:, :, 0] += 1.0
    patched = full_width_heads(y, attn.W_Q, attn.b_Q, attn.q_norm_w, model.cfg.eps)
    assert not torch.allclose(patched[:, :, 0], whole[:, :, 0]) and torch.equal(patched[:, :, 1:], per_head[:, :, 1:])


# thresholds that keep some edges and remove others, per family (KL is small under soft caps)
THRESHOLDS = {"gemma2": 0.001, "gemma3_text": 0.001, "olmo2": 0.02}
ABLATIONS = [("corrupted", False, False), ("zero", True, False), ("mean", False, True)]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("ablation, zero, mean", ABLATIONS, ids=[a[0] for a in ABLATIONS])
def test_fast_and_plain_engines_agree_event_by_event(checkpoints, family, ablation, zero, mean, request):
    compare_engines(_task(checkpoints, family), request, THRESHOLDS[family], zero, mean=mean)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_task_directory_runs_end_to_end_on_both_engines(checkpoints, family, tmp_path):
    present = {}
    for engine in ("plain", "fast"):
        out = tmp_path / f"{engine}.json"
        args = ["run", "--task-dir", str(checkpoints[family]), "--threshold", str(THRESHOLDS[family]), "--engine", engine, "--dtype", "float64", "--quiet", "--out", str(out)]
        assert main(args) == 0
        circuit = orjson.loads(out.read_bytes())
        assert circuit["complete"] and circuit["model"]["config"]["post_norms"] is True
        assert circuit["summary"]["edges_total"] == 67
        present[engine] = {(e["sender"]["hook"], e["sender"]["head"], e["receiver"]["hook"], e["receiver"]["head"]) for e in circuit["edges"] if e["present"]}
    assert present["plain"] == present["fast"] and 0 < circuit["summary"]["edges_kept"] < 67
    # the circuit file's config rebuilds the post-norm graph
    assert main(["dot", str(tmp_path / "fast.json"), "-o", str(tmp_path / "c.dot")]) == 0
    assert "hook_attn_sum" in (tmp_path / "c.dot").read_text() or "a1.sum" in (tmp_path / "c.dot").read_text()


def test_a_rope_that_changes_with_length_is_refused_in_one_line(tmp_path):
    import transformers as T

    d = tmp_path / "g2"
    T.Gemma2Config(**COMMON, num_key_value_heads=2, head_dim=16, rope_parameters={"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0}).save_pretrained(d)
    with pytest.raises(UserError, match="changes its frequencies") as e:
        backend.load_checkpoint(str(d))
    assert len(str(e.value).splitlines()) == 1


async def test_the_explorer_renders_a_post_norm_circuit(checkpoints, tmp_path):
    """A finished Gemma-2 circuit opened in the explorer: the DAG draws the post-norm nodes."""
    from acdc_tui.io.circuit import read_circuit, write_circuit
    from acdc_tui.runs.experiment import to_circuit
    from acdc_tui.ui.app import ExplorerApp
    from acdc_tui.ui.widgets.circuit_view import CircuitView
    from tests.helpers import experiment
    from tests.test_explorer import SIZE, drawn, ready, until

    exp = experiment(task_dir=checkpoints["gemma2"], engine="fast", threshold=THRESHOLDS["gemma2"])
    list(exp.run.events())  # straight through
    write_circuit(to_circuit(exp, 0.0, True), tmp_path / "c.json")
    app = ExplorerApp(circuit=read_circuit(tmp_path / "c.json"), circuit_graph=exp.graph, description="c.json", out=tmp_path / "copy.json")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ready(app))
        await pilot.press("1")
        view = app.query_one(CircuitView)
        await drawn(pilot, view)
        text = "\n".join(str(line) for line in view.dag.lines)
        kept = {e.key for e in exp.run.present_edges()}
        assert view.dag.lines and app.state.status.kept == exp.run.kept()
        # the post-attention norm is a cell of its own (aL.out) between the layer's heads and its MLP
        layers = {n.layer for key in kept for n in key if n.kind in ("attn_sum", "attn_out")}
        assert layers and all(f"a{layer}.out" in text for layer in layers), text


def test_a_gemma3_multimodal_checkpoint_runs_its_text_model(tmp_path, request):
    """model_type gemma3 (text + vision): the text decoder is converted from `text_config` and its
    weights (the vision tower is not part of the graph); logits equal the full model's on text."""
    import transformers as T

    text = dict(**COMMON, num_key_value_heads=2, head_dim=16, sliding_window=WINDOW, layer_types=["sliding_attention", "full_attention"], query_pre_attn_scalar=24)
    vision = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=28, patch_size=14)
    config = T.Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4, image_token_index=VOCAB - 1, boi_token_index=VOCAB - 2, eoi_token_index=VOCAB - 3)
    config._attn_implementation = "eager"
    torch.manual_seed(0)
    hf = T.AutoModelForCausalLM.from_config(config).eval()
    sharpen(hf)
    d = tmp_path / "gemma3"
    hf.save_pretrained(d)
    tokens = torch.randint(0, VOCAB - 3, (2, 12), generator=torch.Generator().manual_seed(1))  # text tokens only
    ours = backend.load_checkpoint(str(d), "cpu", torch.float64)
    assert ours.cfg.post_norms and ours.cfg.use_qk_norm and ours.cfg.extra["original_architecture"] == "Gemma3ForConditionalGeneration"
    with torch.no_grad():
        want = hf_float64(d, exact=True)[1](tokens)
    torch.testing.assert_close(backend.logits(ours, tokens), want, rtol=0, atol=1e-12 * max(1.0, float(want.abs().max())))
    g = torch.Generator().manual_seed(5)
    torch.save({"clean": torch.randint(0, VOCAB - 3, (4, POS), generator=g), "corrupted": torch.randint(0, VOCAB - 3, (4, POS), generator=g)}, d / "tokens.pt")
    compare_engines(tasks.load_task(None, str(d), "cpu", torch.float64), request, THRESHOLDS["gemma3_text"])
