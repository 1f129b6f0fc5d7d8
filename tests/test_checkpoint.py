"""--model PATH: a local Hugging Face GPT-2 checkpoint replaces a task's model, offline."""

from __future__ import annotations

import orjson
import pytest
import torch

import tasks
from acdc_tui.cli.main import main
from acdc_tui.core.errors import UserError
from acdc_tui.models import backend

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning", "ignore::FutureWarning")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny random GPT-2 (vocab 64, context 24) saved with save_pretrained, and the HF model."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=64, n_positions=24, n_embd=32, n_layer=2, n_head=4, n_inner=64, activation_function="gelu_new", resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    hf = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # make LayerNorms and biases non-trivial, so a conversion slip shows
        for name, p in hf.named_parameters():
            if "ln" in name or "bias" in name:
                p.add_(torch.randn_like(p) * 0.2)
    d = tmp_path_factory.mktemp("ckpt") / "tiny-gpt2"
    hf.save_pretrained(d)
    return d, hf


def test_logits_equal_the_hugging_face_model(checkpoint):
    d, hf = checkpoint
    model = backend.load_checkpoint(str(d), "cpu", torch.float64)
    assert {"blocks.0.attn.hook_result", "blocks.0.hook_q_input", "blocks.0.hook_mlp_in"} <= set(model.hook_dict)
    tokens = torch.randint(0, 64, (3, 24), generator=torch.Generator().manual_seed(1))
    ours = backend.logits(model, tokens)
    with torch.no_grad():
        theirs = hf.double()(tokens).logits
    hf.float()
    assert ours.dtype == torch.float64
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10)


def test_a_task_runs_on_the_checkpoint(checkpoint, tmp_path):
    d, _ = checkpoint
    task = tasks.load_task("tracr-reverse", model_path=str(d))  # tracr token ids 0..4 fit vocab 64
    assert task.model.cfg.d_vocab == 64 and task.ground_truth is None
    out = tmp_path / "c.json"
    assert main(["run", "--task", "tracr-proportion", "--model", str(d), "--threshold", "0.01", "--quiet", "--out", str(out)]) == 0
    circuit = orjson.loads(out.read_bytes())
    assert circuit["model"]["config"]["n_layers"] == 2 and circuit["complete"]


def test_cli_with_task_dir(checkpoint, tmp_path):
    d, _ = checkpoint
    task_dir = tmp_path / "td"
    task_dir.mkdir()
    from tests.conftest import SMALL_CONFIG, write_task_dir

    write_task_dir(task_dir, SMALL_CONFIG, seed=3)  # token ids < 20, 6 positions: fit the checkpoint
    out = tmp_path / "c.json"
    assert main(["run", "--task-dir", str(task_dir), "--model", str(d), "--threshold", "0.001", "--quiet", "--out", str(out)]) == 0
    assert orjson.loads(out.read_bytes())["summary"]["edges_total"] > 0


def test_tokens_outside_the_checkpoint_vocabulary_are_one_line(checkpoint, tmp_path, capsys):
    d, _ = checkpoint
    task_dir = tmp_path / "big"
    from tests.conftest import SMALL_CONFIG, write_task_dir

    write_task_dir(task_dir, {**SMALL_CONFIG, "d_vocab": 200, "n_ctx": 8}, seed=4, batch=8)
    tokens = torch.load(task_dir / "tokens.pt")
    tokens["clean"][0, 0] = 150
    torch.save(tokens, task_dir / "tokens.pt")
    with pytest.raises(UserError, match="does not fit"):
        tasks.load_task(task_dir=str(task_dir), model_path=str(d))
    assert main(["run", "--task-dir", str(task_dir), "--model", str(d), "--threshold", "0.01", "--quiet", "--out", str(tmp_path / "x.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "vocabulary" in err and "--model" in err


def test_not_a_checkpoint_is_one_line(tmp_path):
    with pytest.raises(UserError, match="config.json"):
        backend.load_checkpoint(str(tmp_path))


def test_a_hub_task_runs_on_a_checkpoint_with_its_tokenizer(tmp_path):
    """ioi with --model: the task's text goes through the checkpoint's own tokenizer (a word-level
    one here, saved next to a tiny GPT-2 sized to it), with no network."""
    from tokenizers import Regex, Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Split
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    from tasks import hub_data

    pieces = ["<|endoftext|>", *dict.fromkeys(hub_data.ioi_vocab())]
    tok = Tokenizer(WordLevel({p: i for i, p in enumerate(pieces)}, unk_token="<|endoftext|>"))
    tok.pre_tokenizer = Split(Regex(r" ?[A-Za-z]+|[^A-Za-z ]"), behavior="isolated")
    d = tmp_path / "ioi-gpt2"
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>").save_pretrained(d)
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(pieces), n_positions=16, n_embd=16, n_layer=1, n_head=2, bos_token_id=0, eos_token_id=0)).save_pretrained(d)
    task = tasks.load_task("ioi", model_path=str(d))
    assert task.clean.shape == (100, 15) and task.ground_truth is None
    out = tmp_path / "c.json"
    assert main(["run", "--task", "ioi", "--model", str(d), "--metric", "logit_diff", "--threshold", "0.01", "--quiet", "--out", str(out)]) == 0
    assert orjson.loads(out.read_bytes())["task"]["metric"] == "logit_diff"


def test_a_hub_task_needs_the_checkpoint_tokenizer(checkpoint):
    d, _ = checkpoint
    with pytest.raises(UserError, match="tokenizer"):
        tasks.load_task("greaterthan", model_path=str(d))
