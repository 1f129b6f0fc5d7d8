"""Text task directories for tests: a tiny random Hugging Face checkpoint of a family, a word-level
tokenizer trained here with the `tokenizers` library (saved with save_pretrained) and a prompts.jsonl.

To add a family, add its config to TEXT_FAMILIES (a function of the vocabulary size); every test
parametrized over TEXT_FAMILIES picks it up.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

NAMES = ["Mary", "John", "Kate", "Bob", "Anna", "Tom"]
WORDS = ["When", "and", "went", "to", "the", "store", "park", ",", "gave", "a", "drink", "book"]
CTX = 32
LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16, "rope_theta": 10000.0}


INIT = 0.25  # initializer_range: large enough random weights that edges matter and the logit difference is far from 0


def _common(vocab: int) -> dict:
    return dict(vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96, max_position_embeddings=CTX, initializer_range=INIT)


def _llama(vocab: int):
    import transformers as T

    cfg = T.LlamaConfig(**_common(vocab), num_key_value_heads=2, tie_word_embeddings=False, rope_scaling=dict(LLAMA3_ROPE))
    return cfg


TEXT_FAMILIES = {
    "gpt2": lambda v: __import__("transformers").GPT2Config(vocab_size=v, n_positions=CTX, n_embd=64, n_layer=2, n_head=4, initializer_range=INIT, bos_token_id=1, eos_token_id=2),
    "llama": _llama,  # with Llama-3 rope scaling
    "qwen2": lambda v: __import__("transformers").Qwen2Config(**_common(v), num_key_value_heads=2),
    "gpt_neox": lambda v: __import__("transformers").GPTNeoXConfig(**_common(v), rotary_pct=0.25, use_parallel_residual=True),
    "mistral": lambda v: __import__("transformers").MistralConfig(**_common(v), num_key_value_heads=1, sliding_window=None),
}


def train_tokenizer(directory: Path, texts: list[str], bos: bool = True):
    """A word-level tokenizer over byte-level pre-tokens (so " Mary" and "Mary" are different tokens),
    trained on `texts`; with `bos`, its post-processor puts <bos> first (what `--bos auto` follows).
    Saved with save_pretrained (tokenizer.json, tokenizer_config.json); returns the transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=["<unk>", "<bos>", "<eos>"], min_frequency=1))
    if bos:
        tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", tok.token_to_id("<bos>"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", unk_token="<unk>")
    directory.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(directory)
    return fast


def ioi_rows(n: int = 6, seed: int = 0) -> list[dict]:
    """IOI-like rows of equal token length: clean ABBA, corrupted with three other names."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for _ in range(n):
        a, b, c, d, e = (NAMES[i] for i in torch.randperm(len(NAMES), generator=g)[:5].tolist())
        rows.append({
            "clean": f"When {a} and {b} went to the store, {b} gave a drink to",
            "corrupted": f"When {c} and {d} went to the store, {e} gave a drink to",
            "answer": f" {a}",
            "wrong": f" {b}",
        })
    return rows


def corpus(rows: list[dict]) -> list[str]:
    """Texts the tokenizer is trained on: every row's texts and answers, every name with and without a space."""
    texts = [r[k] for r in rows for k in ("clean", "corrupted")]
    texts += [" ".join(NAMES), " " + " ".join(NAMES), " ".join(WORDS)]
    return texts


def write_prompts(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def write_text_task(directory: Path, family: str, rows: list[dict] | None = None, seed: int = 0, bos: bool = True):
    """A task directory: a random `family` checkpoint (initialised with a large std, norms and biases
    perturbed, so that edges matter and a conversion slip shows), its tokenizer and
    prompts.jsonl. Returns (the Hugging Face model, float32, eval; the tokenizer; the rows)."""
    from transformers import AutoModelForCausalLM

    rows = ioi_rows() if rows is None else rows
    tokenizer = train_tokenizer(directory, corpus(rows), bos=bos)
    torch.manual_seed(seed)
    hf = AutoModelForCausalLM.from_config(TEXT_FAMILIES[family](len(tokenizer))).eval()
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if p.ndim == 1:  # norms and biases
                p.add_(torch.randn_like(p) * 0.2)
    hf.save_pretrained(directory)
    write_prompts(directory / "prompts.jsonl", rows)
    return hf, tokenizer, rows


def float64_norms(hf) -> None:
    """Make the model's RMSNorms compute in the input's dtype. transformers computes them in float32
    even in a float64 model (`hidden_states.to(torch.float32)`), so without this its "float64" logits
    carry float32 rounding; its rotary tables are float32 too, but so are ours (the same tables)."""
    import types

    def forward(self, x):
        eps = getattr(self, "variance_epsilon", None) or getattr(self, "eps", 1e-6)
        normed = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
        return normed * ((1.0 + self.weight) if "Gemma" in type(self).__name__ else self.weight)

    for module in hf.modules():
        if type(module).__name__.endswith("RMSNorm"):
            module.forward = types.MethodType(forward, module)


def hf_logit_diff(hf, tokenizer, rows: list[dict], bos: bool = True) -> float:
    """-(logit[answer] - logit[wrong]) at the last position, averaged over rows, by transformers itself
    in float64 (RMSNorms kept in float64: float64_norms) with the sign ACDC minimises
    (acdc_tui.core.metrics.answer_metric)."""
    import copy

    model = copy.deepcopy(hf).to(torch.float64)
    float64_norms(model)
    diffs = []
    with torch.no_grad():
        for r in rows:
            ids = tokenizer(r["clean"], add_special_tokens=False)["input_ids"]
            ids = ([tokenizer.bos_token_id] if bos else []) + ids
            last = model(torch.tensor([ids])).logits[0, -1]
            a = tokenizer(r["answer"], add_special_tokens=False)["input_ids"]
            w = tokenizer(r["wrong"], add_special_tokens=False)["input_ids"]
            assert len(a) == len(w) == 1
            diffs.append(-(last[a[0]] - last[w[0]]))
    return float(torch.stack(diffs).mean())
