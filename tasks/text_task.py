"""A task from text: a Hugging Face checkpoint with its tokenizer files, and `prompts.jsonl`.

    config.json, *.safetensors       the checkpoint (model.save_pretrained(DIR))
    tokenizer.json, tokenizer_config.json
                                     its tokenizer (tokenizer.save_pretrained(DIR)), loaded offline
    prompts.jsonl                    one JSON object a line:
        {"clean": "When Mary and John went to the store, John gave a drink to",
         "corrupted": "When Kate and Bob went to the store, Tom gave a drink to",
         "answer": " Mary", "wrong": " John"}

`answer` and `wrong` are optional texts of one token each, as the tokenizer sees them (a leading
space is part of the token); a list gives several, and the answer metrics then average over them
(acdc_tui.core.metrics.answer_metric). Every row is checked before any model loads: the JSON, the
keys, clean and corrupted of the same token length, every row of the same length (no padding: each
position is patched exactly as it is), answers single tokens; each problem is one line
`FILE:LINE: what is wrong` (1-based line numbers) and nothing is written.

BOS: `auto` follows the tokenizer (what `tokenizer(text)` adds: its add_bos_token setting or its
post-processor); `on` puts the tokenizer's bos_token before every text; `off` adds nothing. The
circuit file records the mode, whether a BOS was added, and the sha256 of the tokenizer and prompts files.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from pathlib import Path
from typing import Any

import orjson
import torch

from acdc_tui.core.errors import UserError, UserErrors
from acdc_tui.core.metrics import ANSWER_METRICS, answer_metric, kl_divergence

PROMPTS_FILE = "prompts.jsonl"
KEYS = ("clean", "corrupted", "answer", "wrong")
BOS_MODES = ("auto", "on", "off")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt", "tokenizer.model")
EXAMPLE_ROW = '{"clean": "...", "corrupted": "...", "answer": " Mary", "wrong": " John"}'


@dataclasses.dataclass(frozen=True)
class PromptRow:
    line: int  # 1-based line number in the file
    clean: str
    corrupted: str
    answer: tuple[str, ...] | None = None
    wrong: tuple[str, ...] | None = None


# ---------------------------------------------------------------- parsing (no tokenizer) ----------------------------------------------------------------


def _kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}.get(type(value), type(value).__name__)


def _texts(value: Any, key: str, where: str) -> tuple[tuple[str, ...] | None, str | None]:
    """An answer or wrong: a string or a non-empty list of strings -> (texts, problem)."""
    if isinstance(value, str):
        value = [value]
    elif not isinstance(value, list):
        return None, f"{where}: \"{key}\" must be a string (one token) or a list of strings, got a {_kind(value)}"
    if not value:
        return None, f"{where}: \"{key}\" is an empty list: give at least one token text"
    for i, v in enumerate(value):
        if not isinstance(v, str):
            return None, f"{where}: \"{key}\"[{i}] must be a string, got a {_kind(v)}"
        if v == "":
            return None, f"{where}: \"{key}\"[{i}] is an empty string: give the text of one token"
    return tuple(value), None


def parse_prompts(data: bytes, name: str = PROMPTS_FILE) -> tuple[list[PromptRow], list[str]]:
    """The rows of a prompts file and its problems (one line each, `NAME:LINE: ...`); never raises.
    Blank lines are skipped (their numbers still count)."""
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark, as some editors write, is not part of line 1
    except UnicodeDecodeError as e:
        return [], [f"{name}: not UTF-8 text (byte {e.start} is {data[e.start]:#04x}): save the file as UTF-8"]
    rows: list[PromptRow] = []
    problems: list[str] = []
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        where = f"{name}:{n}"
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            problems.append(f"{where}: not valid JSON ({str(e).splitlines()[0] if str(e) else 'parse error'}): each line must be one JSON object such as {EXAMPLE_ROW}")
            continue
        if not isinstance(obj, dict):
            problems.append(f"{where}: a JSON {_kind(obj)}, not an object: each line must be one JSON object such as {EXAMPLE_ROW}")
            continue
        unknown = [k for k in obj if k not in KEYS]
        if unknown:
            problems.append(f"{where}: unknown key {unknown[0]!r}: the keys are {', '.join(KEYS)} (answer and wrong optional)")
            continue
        bad = False
        for key in ("clean", "corrupted"):
            if key not in obj:
                problems.append(f"{where}: no \"{key}\": every row needs \"clean\" and \"corrupted\" texts")
                bad = True
            elif not isinstance(obj[key], str):
                problems.append(f"{where}: \"{key}\" must be a string, got a {_kind(obj[key])}")
                bad = True
            elif obj[key] == "":
                problems.append(f"{where}: \"{key}\" is an empty string: give the prompt's text")
                bad = True
        optional: dict[str, tuple[str, ...] | None] = {}
        for key in ("answer", "wrong"):
            optional[key] = None
            if key in obj:
                optional[key], problem = _texts(obj[key], key, where)
                if problem:
                    problems.append(problem)
                    bad = True
        if bad:
            continue
        rows.append(PromptRow(n, obj["clean"], obj["corrupted"], optional["answer"], optional["wrong"]))
    for key in ("answer", "wrong"):  # every row has it, or none: said at each row unlike the first
        for r in rows[1:]:
            has, first = getattr(r, key) is not None, getattr(rows[0], key) is not None
            if has != first:
                problems.append(f"{name}:{r.line}: {'has' if has else 'has no'} \"{key}\" but line {rows[0].line} {'has none' if has else 'has one'}: give every row \"{key}\", or none")
    if not rows and not problems:
        problems.append(f"{name}: no rows (the file is empty): write one JSON object a line, such as {EXAMPLE_ROW}")
    if any(r.wrong is not None for r in rows) and not any(r.answer is not None for r in rows):
        first = next(r.line for r in rows if r.wrong is not None)
        problems.append(f"{name}:{first}: \"wrong\" without \"answer\": a distractor needs an answer to be compared with")
    return rows, problems


# ---------------------------------------------------------------- the tokenizer ----------------------------------------------------------------


def tokenizer_files(directory: Path) -> list[Path]:
    return [directory / f for f in TOKENIZER_FILES if (directory / f).is_file()]


def files_sha256(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode() + b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return "sha256:" + h.hexdigest()


GENERIC_TOKENIZER_CLASSES = ("PreTrainedTokenizerFast", "TokenizersBackend")


def _generic_fast(directory: Path) -> bool:
    """The tokenizer was saved as the generic fast tokenizer (its whole definition is tokenizer.json).
    AutoTokenizer would pick the class of config.json's model_type instead (Qwen2Tokenizer, say), which
    in transformers 5 rebuilds the tokenizer from the vocabulary and can tokenize differently."""
    try:
        config = orjson.loads((directory / "tokenizer_config.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return False
    return isinstance(config, dict) and config.get("tokenizer_class") in GENERIC_TOKENIZER_CLASSES and (directory / "tokenizer.json").is_file()


def load_tokenizer(directory: Path, what: str):
    """The checkpoint's own tokenizer, from its files only (never the hub)."""
    if not tokenizer_files(directory):
        raise UserError(f"{what} has no tokenizer files (tokenizer.json, tokenizer_config.json), which text prompts need: save the tokenizer beside the model with tokenizer.save_pretrained(DIR)")
    from acdc_tui.models.checkpoint import quiet_transformers

    with quiet_transformers():
        try:
            from transformers import AutoTokenizer, PreTrainedTokenizerFast

            if _generic_fast(directory):  # exactly tokenizer.json, whatever class config.json's model_type suggests
                return PreTrainedTokenizerFast.from_pretrained(str(directory), local_files_only=True)
            return AutoTokenizer.from_pretrained(str(directory), local_files_only=True, trust_remote_code=False)
        except Exception as e:  # missing or broken files, an unknown tokenizer class
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise UserError(f"{what}: cannot load its tokenizer offline ({type(e).__name__}: {first.rstrip('.')}); save it with tokenizer.save_pretrained(DIR)") from None


def _ids(tokenizer, text: str, special: bool) -> list[int]:
    return list(tokenizer(text, add_special_tokens=special)["input_ids"])


class Encoder:
    """Texts -> token ids under a BOS mode (auto: as `tokenizer(text)` encodes them, refused in one line
    if that appends special tokens after the text; on: bos_token + the bare text; off: the bare text)."""

    def __init__(self, tokenizer, mode: str) -> None:
        if mode not in BOS_MODES:
            raise UserError(f"unknown --bos {mode!r}: choose one of {', '.join(BOS_MODES)}")
        self.tokenizer, self.mode = tokenizer, mode
        self.bos_id = tokenizer.bos_token_id
        if mode == "on" and self.bos_id is None:
            raise UserError("--bos on: the tokenizer has no bos_token to put first; use --bos auto or --bos off")
        self.added: set[bool] = set()  # whether `auto` added a BOS, per text

    def encode(self, text: str) -> list[int]:
        plain = _ids(self.tokenizer, text, False)
        if self.mode == "off":
            return plain
        if self.mode == "on":
            return [self.bos_id] + plain
        full = _ids(self.tokenizer, text, True)
        k = len(full) - len(plain)
        if k < 0 or full[k:] != plain:
            start = next((p for p in range(max(k, 0) + 1) if full[p : p + len(plain)] == plain), None)
            after = "" if start is None else f" ({', '.join(repr(t) for t in self.tokenizer.convert_ids_to_tokens(full[start + len(plain):]))})"
            raise UserError(f"the tokenizer adds special tokens after the text{after}, so the last position would not be the prompt's last token: pass --bos on or --bos off (both encode the text without the tokenizer's special tokens)")
        self.added.add(k == 1 and self.bos_id is not None and full[0] == self.bos_id)
        return full

    @property
    def bos_added(self) -> bool:
        if self.mode != "auto":
            return self.mode == "on"
        return any(self.added)

    def show(self, ids: list[int], limit: int = 24) -> str:
        """Token texts as the tokenizer decodes them one by one, e.g. ['<bos>', 'When', ' Mary']."""
        texts = [self.tokenizer.decode([i]) for i in ids[:limit]]
        return "[" + ", ".join(repr(t) for t in texts) + (f", ... {len(ids) - limit} more" if len(ids) > limit else "") + "]"


@dataclasses.dataclass
class TokenizedPrompts:
    clean: torch.Tensor  # [rows, pos]
    corrupted: torch.Tensor
    answers: torch.Tensor | None  # [rows, k] token ids, padded with 0 where a row has fewer
    answer_mask: torch.Tensor | None  # [rows, k] 1 where present
    wrong: torch.Tensor | None
    wrong_mask: torch.Tensor | None
    bos: str  # the mode asked for
    bos_added: bool


def _ragged(lists: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    k = max(len(x) for x in lists)
    ids = torch.zeros(len(lists), k, dtype=torch.long)
    mask = torch.zeros(len(lists), k)
    for i, x in enumerate(lists):
        ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
        mask[i, : len(x)] = 1
    return ids, mask


def tokenize_prompts(rows: list[PromptRow], tokenizer, bos: str, name: str = PROMPTS_FILE, vocab_size: int | None = None) -> TokenizedPrompts:
    """Every row tokenized and checked; all problems at once (UserErrors), before any model work."""
    enc = Encoder(tokenizer, bos)
    unk = tokenizer.unk_token_id
    problems: list[str] = []
    cleans, corrupts, answers, wrongs = [], [], [], []
    length: tuple[int, int] | None = None  # (tokens, line) of the first good row
    for r in rows:
        where = f"{name}:{r.line}"
        clean, corrupted = enc.encode(r.clean), enc.encode(r.corrupted)
        ok = True
        if not clean or not corrupted:
            problems.append(f"{where}: \"{'clean' if not clean else 'corrupted'}\" tokenizes to no tokens: give a longer text (or --bos on)")
            ok = False
        elif len(clean) != len(corrupted):
            problems.append(f"{where}: clean has {len(clean)} tokens and corrupted {len(corrupted)}: they must tokenize to the same length (ACDC patches position by position); clean {enc.show(clean)}, corrupted {enc.show(corrupted)}")
            ok = False
        elif length is not None and len(clean) != length[0]:
            problems.append(f"{where}: {len(clean)} tokens but line {length[1]} has {length[0]}: every row must have the same number of tokens (rows are not padded); clean {enc.show(clean)}")
            ok = False
        if vocab_size is not None:
            big = [i for i in clean + corrupted if i >= vocab_size]
            if big:
                problems.append(f"{where}: token id {big[0]} is outside the model's vocabulary 0..{vocab_size - 1}: the tokenizer does not fit the checkpoint")
                ok = False
        ids = {}
        for key in ("answer", "wrong"):
            texts = getattr(r, key)
            if texts is None:
                continue
            ids[key] = []
            for t in texts:
                tok = _ids(tokenizer, t, False)
                if len(tok) != 1:
                    problems.append(f"{where}: {key} {t!r} is {len(tok)} tokens {enc.show(tok)}, not one: give the text of a single token (a leading space is part of it)")
                    ok = False
                elif unk is not None and tok[0] == unk and t != tokenizer.unk_token:
                    problems.append(f"{where}: {key} {t!r} is the unknown token {tokenizer.unk_token!r}: the tokenizer has no token for it (check the leading space)")
                    ok = False
                elif vocab_size is not None and tok[0] >= vocab_size:
                    problems.append(f"{where}: {key} {t!r} is token {tok[0]}, outside the model's vocabulary 0..{vocab_size - 1}")
                    ok = False
                else:
                    ids[key].append(tok[0])
        if not ok:
            continue
        if length is None:
            length = (len(clean), r.line)
        cleans.append(clean)
        corrupts.append(corrupted)
        answers.append(ids.get("answer"))
        wrongs.append(ids.get("wrong"))
    if problems:
        raise UserErrors(problems)
    a, am = _ragged(answers) if answers and answers[0] is not None else (None, None)
    w, wm = _ragged(wrongs) if wrongs and wrongs[0] is not None else (None, None)
    return TokenizedPrompts(torch.tensor(cleans, dtype=torch.long), torch.tensor(corrupts, dtype=torch.long), a, am, w, wm, bos, enc.bos_added)


def read_prompts(path: Path, tokenizer, bos: str, vocab_size: int | None = None) -> TokenizedPrompts:
    """Parse, then tokenize and check; every problem at once, one line each."""
    if path.is_dir():
        raise UserError(f"prompts file {str(path)!r} is a directory: pass the .jsonl file")
    if not path.is_file():
        raise UserError(f"prompts file {str(path)!r} does not exist: pass a .jsonl file with one {{\"clean\", \"corrupted\"}} object a line")
    rows, problems = parse_prompts(path.read_bytes(), str(path))
    if problems:
        raise UserErrors(problems)
    return tokenize_prompts(rows, tokenizer, bos, str(path), vocab_size)


# ---------------------------------------------------------------- metrics ----------------------------------------------------------------


def answer_metrics(answers: torch.Tensor | None, wrong: torch.Tensor | None, answer_mask: torch.Tensor | None = None, wrong_mask: torch.Tensor | None = None) -> dict:
    """kl always; nll with answers; logit_diff and prob_diff with answers and distractors."""
    metrics: dict = {"kl": functools.partial(kl_divergence, positions=(-1,))}
    if answers is not None:
        for kind in ANSWER_METRICS:
            if kind == "nll" or wrong is not None:
                metrics[kind] = functools.partial(answer_metric, kind=kind, answers=answers, wrong=wrong, answer_mask=answer_mask, wrong_mask=wrong_mask)
    return metrics


def default_metric(metrics: dict) -> str:
    """logit_diff when the rows have answers and distractors, else nll with answers, else kl."""
    return next(m for m in ("logit_diff", "nll", "kl") if m in metrics)


# ---------------------------------------------------------------- the task ----------------------------------------------------------------


def vocab_size_of(config: dict) -> int | None:
    v = config.get("vocab_size") or (config.get("text_config") or {}).get("vocab_size")
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def load_text_task(model_dir: str | Path, prompts: str | Path, device: str = "cpu", dtype: torch.dtype = torch.float32,
                   bos: str = "auto", name: str | None = None, source: str | None = None, what: str | None = None, model=None):
    """A task from a checkpoint directory with its tokenizer and a prompts file. The rows are read and
    checked before the model loads (`model`: one already loaded)."""
    from acdc_tui.models import backend
    from acdc_tui.models.checkpoint import read_hf_config
    from tasks.task import Task, check_tokens

    model_dir, prompts = Path(model_dir), Path(prompts)
    what = what or f"--model {model_dir}"
    config = read_hf_config(model_dir, what)
    tokenizer = load_tokenizer(model_dir, what)
    data = read_prompts(prompts, tokenizer, bos, vocab_size_of(config))
    if model is None:
        model = backend.load_checkpoint(str(model_dir), device, dtype)
    clean = check_tokens(data.clean, model, f"the clean prompts of {prompts}")
    corrupted = check_tokens(data.corrupted, model, f"the corrupted prompts of {prompts}")
    metrics = answer_metrics(data.answers, data.wrong, data.answer_mask, data.wrong_mask)
    text = {
        "prompts": str(prompts.resolve()),
        "prompts_sha256": files_sha256([prompts]),
        "tokenizer": str(model_dir.resolve()),
        "tokenizer_sha256": files_sha256(tokenizer_files(model_dir)),
        "tokenizer_class": type(tokenizer).__name__,
        "bos": bos,
        "bos_added": data.bos_added,
        "rows": int(clean.shape[0]),
        "positions": int(clean.shape[1]),
        "answers": data.answers is not None,
        "wrong": data.wrong is not None,
    }
    return Task(
        name=name or model_dir.resolve().name,
        source=source or str(model_dir.resolve()),
        model=model,
        clean=clean,
        corrupted=corrupted,
        metrics=metrics,
        default_metric=default_metric(metrics),
        description=f"text prompts {prompts} ({clean.shape[0]} rows of {clean.shape[1]} tokens, BOS {bos}: {'added' if data.bos_added else 'none'})",
        config={"text": text},
    )
