"""Build the shipped `tiny-ioi` text task: `python -m tasks.build.train_tiny_ioi` (CPU, about a minute).

Writes tasks/tiny_ioi/: a 2-layer GPT-2 checkpoint trained here (config.json, model.safetensors,
generation_config.json, by save_pretrained), its tokenizer trained here with the `tokenizers` library
(tokenizer.json, tokenizer_config.json), and prompts.jsonl, the task's text prompts.

The sentences are indirect-object identification (IOI) templates, as in Wang et al. 2022:

    When Mary and John went to the store, John gave a drink to  ->  " Mary"

Two names are introduced; one of them (the subject, S) is repeated; the answer is the other (the
indirect object, IO). The names' order varies (ABBA and BABA), so neither position nor a fixed name
gives the answer: the model has to find the name that is *not* repeated. The tokenizer is a word-level
vocabulary over byte-level pre-tokens, so " Mary" (with its leading space) is one token and "Mary" is
another; its post-processor puts <bos> first, which `--bos auto` follows.

prompts.jsonl pairs each clean sentence with a corrupted one of the same template in which the three
name slots hold three other names (the reference ACDC's "ABC" patch data): the corrupted sentence
says nothing about which name is the answer. `answer` is the IO, `wrong` the subject.

Everything is seeded and single-threaded, so a rerun on the same torch and tokenizers versions writes
the same files (up to floating-point differences between machines).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

OUT_DIR = Path(__file__).parents[1] / "tiny_ioi"
NAMES = ["Mary", "John", "Kate", "Bob", "Anna", "Tom", "Lisa", "Paul", "Emma", "Mark", "Sara", "Dan"]
PLACES = ["store", "park", "school", "garden", "office", "beach"]
OBJECTS = ["drink", "book", "ball", "letter", "gift", "key"]
# Templates of the same number of words, so that every prompt has the same number of tokens.
TEMPLATES = [
    "When {A} and {B} went to the {P}, {S} gave a {O} to",
    "After {A} and {B} went to the {P}, {S} handed a {O} to",
    "While {A} and {B} were at the {P}, {S} threw a {O} to",
]
TRAIN_SEED, PROMPTS_SEED, NUM_PROMPTS = 0, 1, 40
MODEL = dict(n_layer=2, n_head=4, n_embd=64, n_inner=128, n_positions=32, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=False)


def sentence(template: int, a: str, b: str, s: str, place: str, obj: str) -> str:
    return TEMPLATES[template].format(A=a, B=b, S=s, P=place, O=obj)


def sample(gen: torch.Generator) -> tuple[str, str, str, str]:
    """(clean, corrupted, answer, wrong): an IOI sentence, ABBA or BABA at random, and its ABC corruption."""
    pick = lambda xs: xs[int(torch.randint(len(xs), (), generator=gen))]  # noqa: E731
    io, s, c1, c2, c3 = (NAMES[i] for i in torch.randperm(len(NAMES), generator=gen)[:5].tolist())
    t, place, obj = int(torch.randint(len(TEMPLATES), (), generator=gen)), pick(PLACES), pick(OBJECTS)
    a, b = (io, s) if int(torch.randint(2, (), generator=gen)) == 0 else (s, io)
    return sentence(t, a, b, s, place, obj), sentence(t, c1, c2, c3, place, obj), " " + io, " " + s


def train_tokenizer():
    """Word-level over byte-level pre-tokens; <bos> first (its post-processor); every word of the
    templates with and without a leading space, so no text the task uses is unknown."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for t in TEMPLATES for w in t.replace(",", " ,").split() if "{" not in w} | set(NAMES) | set(PLACES) | set(OBJECTS))
    vocab = {"<unk>": 0, "<bos>": 1, "<eos>": 2}
    byte = pre_tokenizers.ByteLevel(add_prefix_space=False)
    for w in words:
        for text in (w, " " + w):
            (piece, _), = byte.pre_tokenize_str(text)
            vocab.setdefault(piece, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = byte
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", unk_token="<unk>")


def batch(tokenizer, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids [n, pos+1]: <bos>, the sentence, the answer; and the answer's ids [n]."""
    rows = []
    for _ in range(n):
        clean, _, answer, _ = sample(gen)
        rows.append(tokenizer(clean + answer)["input_ids"])
    ids = torch.tensor(rows)
    return ids, ids[:, -1]


def train(tokenizer, steps: int = 3000, size: int = 64, lr: float = 3e-3):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(TRAIN_SEED)
    gen = torch.Generator().manual_seed(TRAIN_SEED)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), bos_token_id=1, eos_token_id=2, **MODEL))
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    start = time.perf_counter()
    for step in range(steps):
        ids, _ = batch(tokenizer, size, gen)
        logits = model(ids[:, :-1]).logits
        # the whole sentence as a language model, and the answer (the last token) weighted up
        lm = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        answer = F.cross_entropy(logits[:, -1], ids[:, -1])
        loss = lm + answer
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 500 == 0 or step == steps - 1:
            print(f"step {step:5d} loss {lm.item():.4f} answer {answer.item():.4f}", flush=True)
    model.eval()
    return model, time.perf_counter() - start


def prompts(tokenizer, n: int = NUM_PROMPTS) -> list[dict]:
    gen = torch.Generator().manual_seed(PROMPTS_SEED)
    rows = []
    for _ in range(n):
        clean, corrupted, answer, wrong = sample(gen)
        rows.append({"clean": clean, "corrupted": corrupted, "answer": answer, "wrong": wrong})
    return rows


def evaluate(model, tokenizer, rows: list[dict]) -> tuple[float, float]:
    """(accuracy: answer logit above the subject's, mean logit difference answer - subject) on the rows."""
    ids = torch.tensor([tokenizer(r["clean"])["input_ids"] for r in rows])
    a = torch.tensor([tokenizer(r["answer"], add_special_tokens=False)["input_ids"][0] for r in rows])
    w = torch.tensor([tokenizer(r["wrong"], add_special_tokens=False)["input_ids"][0] for r in rows])
    with torch.no_grad():
        last = model(ids).logits[:, -1]
    diff = last[torch.arange(len(rows)), a] - last[torch.arange(len(rows)), w]
    return float((diff > 0).float().mean()), float(diff.mean())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tasks.build.train_tiny_ioi", description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--out", type=Path, default=OUT_DIR)
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # deterministic reductions, and polite on shared machines
    tokenizer = train_tokenizer()
    model, elapsed = train(tokenizer, args.steps)
    rows = prompts(tokenizer)
    accuracy, diff = evaluate(model, tokenizer, rows)
    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out)
    tokenizer.save_pretrained(args.out)
    (args.out / "prompts.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"trained in {elapsed:.1f}s; on prompts.jsonl: answer above the subject in {accuracy:.0%} of rows, mean logit difference {diff:.3f}; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
