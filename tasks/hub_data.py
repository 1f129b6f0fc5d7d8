"""Data generators for the ACDC paper's hub tasks (ioi, greaterthan, docstring).

Each generator takes a tokenizer object with `encode(text) -> list[int]` and `bos_token_id`
(a Hugging Face GPT-2 tokenizer, or `VocabTokenizer` built from the task's own word lists,
which is what the offline tests use) and returns token-id tensors. Prompts follow the reference
implementation (ArthurConmy/Automatic-Circuit-Discovery: acdc/ioi, acdc/greaterthan,
acdc/docstring); where the reference's exact random draws depend on word lists or dataset
classes not reproduced here, a fixed seed is used instead (noted per generator).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Iterable, Protocol, Sequence

import torch

from acdc_tui.core.errors import UserError


class Tokenizer(Protocol):
    bos_token_id: int

    def encode(self, text: str) -> list[int]: ...


class VocabTokenizer:
    """Greedy longest-match tokenizer over a fixed list of strings (ids are list positions).

    Enough to exercise the generators offline: every piece of every prompt must be in the list.
    """

    def __init__(self, pieces: Iterable[str], bos: str = "<|endoftext|>") -> None:
        self.pieces = list(dict.fromkeys([bos, *pieces]))
        self.ids = {p: i for i, p in enumerate(self.pieces)}
        self.bos_token_id = 0
        self.max_len = max(len(p) for p in self.pieces)

    def __len__(self) -> int:
        return len(self.pieces)

    def encode(self, text: str) -> list[int]:
        out, i = [], 0
        while i < len(text):
            for j in range(min(len(text), i + self.max_len), i, -1):
                if text[i:j] in self.ids:
                    out.append(self.ids[text[i:j]])
                    i = j
                    break
            else:
                raise UserError(f"tokenizer has no piece for {text[i:i + 12]!r}")
        return out

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.pieces[int(i)] for i in ids)


def _single(tokenizer: Tokenizer, text: str) -> int:
    ids = tokenizer.encode(text)
    if len(ids) != 1:
        raise UserError(f"{text!r} is not a single token for this tokenizer ({len(ids)} tokens): the task's word lists assume GPT-2's vocabulary")
    return ids[0]


def _stack(rows: list[list[int]], what: str) -> torch.Tensor:
    lengths = {len(r) for r in rows}
    if len(lengths) != 1:
        raise UserError(f"{what} prompts tokenize to different lengths {sorted(lengths)}: the task's words must be single tokens")
    return torch.tensor(rows, dtype=torch.long)


# ---------------------------------------------------------------- IOI ----------------------------------------------------------------

IOI_NAMES = [
    "Mary", "John", "Tom", "James", "Dan", "Sid", "Martin", "Amy", "Lisa", "Michael", "Paul", "David",
    "Sarah", "Kate", "Mark", "Eric", "Anna", "Chris", "Jessica", "Steven", "Laura", "Robert", "Emma", "Peter",
]
IOI_PLACES = ["store", "garden", "restaurant", "school", "hospital", "office", "house", "station"]
IOI_OBJECTS = ["ring", "kiss", "bone", "basketball", "computer", "necklace", "drink", "snack"]
# The reference's IOIDataset(prompt_type="ABBA", nb_templates=1) uses this template; the prompt
# stops before the final name, which the model should predict to be the indirect object A.
IOI_TEMPLATE = "Then, {A} and {B} went to the {PLACE}. {B} gave a {OBJECT} to"


@dataclass
class IOIData:
    clean: torch.Tensor  # [N, 15]: the template up to " to" (no BOS, as the reference)
    corrupted: torch.Tensor  # the "ABC" patch data: all three names replaced by other random names
    io_tokens: torch.Tensor  # [N] the indirect object (the correct answer)
    s_tokens: torch.Tensor  # [N] the subject (the distractor)
    prompts: list[str]


def ioi_data(tokenizer: Tokenizer, num_examples: int = 100, seed: int = 0) -> IOIData:
    """IOI ABBA prompts from one template; patch data as the reference's ABC dataset.

    The reference draws names with its IOIDataset class from a longer name list; this draws them
    from IOI_NAMES with `seed`, so individual prompts differ but the structure is the same."""
    rng = random.Random(seed)
    clean, corrupt, io, s, prompts = [], [], [], [], []
    for _ in range(num_examples):
        a, b, c, d, e = rng.sample(IOI_NAMES, 5)
        place, obj = rng.choice(IOI_PLACES), rng.choice(IOI_OBJECTS)
        text = IOI_TEMPLATE.format(A=a, B=b, PLACE=place, OBJECT=obj)
        # ABC: IO -> random, S -> random, then the first S -> another random name
        patched = f"Then, {c} and {d} went to the {place}. {e} gave a {obj} to"
        prompts.append(text)
        clean.append(tokenizer.encode(text))  # no BOS, as the reference's IOIDataset
        corrupt.append(tokenizer.encode(patched))
        io.append(_single(tokenizer, " " + a))
        s.append(_single(tokenizer, " " + b))
    return IOIData(_stack(clean, "IOI"), _stack(corrupt, "IOI patch"), torch.tensor(io), torch.tensor(s), prompts)


def ioi_vocab() -> list[str]:
    words = IOI_NAMES + IOI_PLACES + IOI_OBJECTS + ["Then", "and", "went", "to", "the", "gave", "a"]
    return [",", ".", *words, *(" " + w for w in words)]


# ------------------------------------------------------------- greater-than -------------------------------------------------------------

GT_NOUNS = [
    "abduction", "accord", "affair", "agreement", "assessment", "attack", "campaign", "case", "challenge",
    "clash", "competition", "conspiracy", "construction", "contract", "deal", "decline", "development",
    "dispute", "dynasty", "effort", "epidemic", "expansion", "expedition", "growth", "investigation",
    "journey", "marriage", "operation", "outbreak", "pilgrimage", "plague", "program", "project",
    "quest", "reign", "relationship", "riot", "rivalry", "rule", "siege", "study", "tour", "trial", "war",
]  # a subset of the reference's NOUNS (single GPT-2 tokens with a leading space)
GT_TEMPLATE = "The {noun} lasted from the year {year} to "
YY_POSITION = 7  # the token holding the start year's last two digits (no BOS, as in the reference)


@dataclass
class GreaterThanData:
    clean: torch.Tensor  # [N, 10]: "The NOUN lasted from the year XXYY to XX"
    corrupted: torch.Tensor  # the start year's YY replaced by "01"
    years: torch.Tensor  # [N] the start year's YY as an int (0..99)
    digit_tokens: torch.Tensor  # [100] token id of "00".."99"
    prompts: list[str]


def greaterthan_years(tokenizer: Tokenizer) -> list[str]:
    """As the reference: years 1102..1798 whose " XXYY" tokenizes as [" XX", "YY"], without each
    century's first and last such year."""
    years = []
    for century in range(11, 18):
        ok = []
        for year in range(century * 100 + 2, century * 100 + 99):
            y = str(year)
            pieces = tokenizer.encode(f" {y}")
            if len(pieces) == 2 and pieces == [tokenizer.encode(f" {y[:2]}")[0], tokenizer.encode(y[2:])[0]]:
                ok.append(y)
        years.extend(ok[1:-1])
    return years


def greaterthan_data(tokenizer: Tokenizer, num_examples: int = 100, seed: int = 54) -> GreaterThanData:
    """The reference's get_year_data (torch seed 54, nouns then years drawn with randint); patch
    data replace the start year's YY with "01". Nouns are a subset of the reference's list."""
    years = greaterthan_years(tokenizer)
    if not years:
        raise UserError("no year in 1102..1798 tokenizes as two tokens ' XX' 'YY' with this tokenizer: greaterthan needs GPT-2's vocabulary")
    gen = torch.Generator().manual_seed(seed)
    nouns_idx = torch.randint(0, len(GT_NOUNS), (num_examples,), generator=gen)
    years_idx = torch.randint(0, len(years), (num_examples,), generator=gen)
    rows, prompts, yy = [], [], []
    for i in range(num_examples):
        year = years[int(years_idx[i])]
        text = GT_TEMPLATE.format(noun=GT_NOUNS[int(nouns_idx[i])], year=year) + year[:2]
        prompts.append(text)
        rows.append(tokenizer.encode(text))
        yy.append(int(year[2:]))
    clean = _stack(rows, "greaterthan")
    digits = torch.tensor([_single(tokenizer, f"{i:02d}") for i in range(100)])
    corrupted = clean.clone()
    corrupted[:, YY_POSITION] = digits[1]
    return GreaterThanData(clean, corrupted, torch.tensor(yy), digits, prompts)


def greaterthan_vocab() -> list[str]:
    words = GT_NOUNS + ["The", "lasted", "from", "the", "year", "to"]
    return [*(" " + w for w in words), *words, *(f" {c}" for c in range(11, 18)), *(f"{i:02d}" for i in range(100)), " "]


# ------------------------------------------------------------- docstring -------------------------------------------------------------

# The reference's variable names (acdc/docstring/prompts.py); argument names are drawn from these.
DOC_VARIABLE_NAMES = (
    "data name file value test new result line user key default request path output node item url model response text "
    "version function log string field start number values sub index error current context image message check json create "
    "size event state row obj parser end files form query fields instance label run action target array code num table "
    "source msg config first required options ret update module status group content client filename results last read "
    "command val base format color settings order found count match tag title parent call session token server host date "
    "description mode expected project info valid page header option task shape load names port old resource root"
).split(" ")
# Description words: a subset of the reference's single-token nouns.
DOC_NOUNS = (
    "price control action cost issue process position course minute education type research subject girl age father force "
    "order value act matter health lot street patient class mind church condition paper bank century section activity table "
    "building sense sort staff team student language town plan management morning committee product practice evidence ground "
    "letter foot boy back game food union role event land art support range stage trade voice arm club field history parent"
).split(" ")
DOC_PROMPT_KWARGS = dict(n_matching_args=3, n_def_prefix_args=2, n_def_suffix_args=1, n_doc_prefix_args=0, met_desc_len=3, arg_desc_len=2)


def docstring_prompt(met_name: str, desc_words: list[str], def_args: list[str], doc_args: list[str], doc_descs: list[list[str]]) -> str:
    """A reST-style docstring prompt ending in `:param`; the next token is the next argument's name."""
    ind = "    "
    lines = [f"\ndef {met_name}(self, {', '.join(def_args)}):", f'{ind}"""{" ".join(desc_words)}', ""]
    lines += [f"{ind}:param {arg}: {' '.join(desc)}" for arg, desc in zip(doc_args, doc_descs)]
    return "\n".join(lines) + f"\n{ind}:param"


def docstring_example(seed: int, n_matching_args=3, n_def_prefix_args=2, n_def_suffix_args=1, n_doc_prefix_args=0, met_desc_len=3, arg_desc_len=2):
    """One example as the reference's docstring_induction_prompt_generator("rest", ...) draws it:
    (clean prompt, "random_random" corrupted prompt, correct answer, wrong answers)."""
    rng = random.Random(seed)
    n_not = n_matching_args - 1
    total = 2 + n_matching_args + n_not + n_not + n_matching_args + n_def_prefix_args + n_def_suffix_args + n_doc_prefix_args
    met_name, *all_args = rng.sample(DOC_VARIABLE_NAMES, total)
    rest = all_args[1:]  # all_args[0] is the reference's random_answer (unused by random_random)

    def take(n):
        nonlocal rest
        head, rest = rest[:n], rest[n:]
        return head

    rr_def, rr_doc = take(n_matching_args), take(n_not)
    take(n_not)  # not_matching_args (other corruptions)
    matching, def_prefix, def_suffix, doc_prefix = take(n_matching_args), take(n_def_prefix_args), take(n_def_suffix_args), take(n_doc_prefix_args)
    clean_def = def_prefix + matching + def_suffix
    clean_doc = doc_prefix + matching[:-1]
    desc = rng.sample(DOC_NOUNS, met_desc_len)
    doc_descs = [rng.sample(DOC_NOUNS, arg_desc_len) for _ in clean_doc]
    clean = docstring_prompt(met_name, desc, clean_def, clean_doc, doc_descs)
    corrupt = docstring_prompt(met_name, desc, def_prefix + rr_def + def_suffix, doc_prefix + rr_doc, doc_descs)
    answer = " " + matching[-1]
    wrong = [" " + a for a in all_args if a != matching[-1]]
    return clean, corrupt, answer, wrong


@dataclass
class DocstringData:
    clean: torch.Tensor  # [N, pos] with BOS
    corrupted: torch.Tensor  # the reference's "random_random" corruption
    correct: torch.Tensor  # [N] the next argument's name
    wrong: torch.Tensor  # [N, n_wrong] every other drawn name
    prompts: list[str]


def docstring_data(tokenizer: Tokenizer, num_examples: int = 50, first_seed: int = 0) -> DocstringData:
    """Examples with seeds first_seed.. as the reference (argument names match its draws; the
    description words come from a shorter list, so descriptions differ)."""
    clean, corrupt, correct, wrong, prompts = [], [], [], [], []
    for i in range(num_examples):
        c, k, answer, wrongs = docstring_example(first_seed + i, **DOC_PROMPT_KWARGS)
        prompts.append(c)
        clean.append([tokenizer.bos_token_id, *tokenizer.encode(c)])
        corrupt.append([tokenizer.bos_token_id, *tokenizer.encode(k)])
        correct.append(_single(tokenizer, answer))
        wrong.append([_single(tokenizer, w) for w in wrongs])
    return DocstringData(_stack(clean, "docstring"), _stack(corrupt, "docstring patch"), torch.tensor(correct), torch.tensor(wrong), prompts)


def docstring_vocab() -> list[str]:
    words = DOC_VARIABLE_NAMES + DOC_NOUNS
    return ["\n", "def", "(", "self", ",", "):", "    ", '"""', ":", "param", *(" " + w for w in words), *words]
