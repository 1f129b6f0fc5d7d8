"""The ACDC paper's hub tasks: ioi, greaterthan (GPT-2 small), docstring (attn-only-4l) and
induction-redwood (redwood_attn_2l), as the reference defines them
(ArthurConmy/Automatic-Circuit-Discovery, acdc/{ioi,greaterthan,docstring,induction}/utils.py).

Models come from the Hugging Face hub (or its cache) onto our own transformer (`acdc_tui.models.hub`)
with the processing settings the reference passes; offline without a cache the run stops with a
one-line error. `--model PATH` replaces the model by a local checkpoint, whose directory must then
hold a tokenizer for the text tasks.
"""

from __future__ import annotations

import functools
from pathlib import Path

import orjson
import torch
import torch.nn.functional as F

from acdc_tui.core.errors import UserError
from acdc_tui.core.safe_load import load_plain_pickle, torch_load
from acdc_tui.core.metrics import Metric, answer_metric, kl_divergence
from acdc_tui.models import backend
from tasks import hub_data
from tasks.task import EdgeKey, Task, check_tokens

HUB_DIR = Path(__file__).parent / "hub"

# TransformerLens 3's from_pretrained processing per model, as the reference passes them
MODEL_SETTINGS = {
    "gpt2": {},  # TransformerLens 3's defaults: fold_ln, center_writing_weights, center_unembed, fold_value_biases
    "attn-only-4l": {},
    "redwood_attn_2l": {"fold_ln": False, "center_writing_weights": False, "center_unembed": False},
}
NUM_EXAMPLES = {"ioi": 100, "greaterthan": 100, "docstring": 50, "induction-redwood": 40}


def load_ground_truth(task: str) -> frozenset[EdgeKey]:
    rows = orjson.loads((HUB_DIR / task / "canonical_circuit.json").read_bytes())["edges"]
    return frozenset(tuple(r) for r in rows)


# ---------------------------------------------------------------- metrics ----------------------------------------------------------------


def logit_diff(clean_logits: torch.Tensor, correct: torch.Tensor, wrong: torch.Tensor) -> Metric:
    """The reference's IOI logit difference, negated so ACDC minimises it: -(logit[correct] - logit[wrong])
    at the last position, averaged over the batch. Not 0 on the clean model. The same metric as every
    task's `logit_diff` (acdc_tui.core.metrics.answer_metric), which also gives prob_diff and nll."""
    return answer_metric(clean_logits, "logit_diff", correct, wrong)


def greaterthan_prob_diff(clean_logits: torch.Tensor, years: torch.Tensor, digit_tokens: torch.Tensor) -> Metric:
    """The reference's greaterthan_metric: -(P(YY' > YY) - P(YY' <= YY)) over the 100 two-digit
    tokens at the last position (a start year ending in 00 counts nothing as "<="). Not 0 on the clean model."""

    def metric(logits: torch.Tensor) -> torch.Tensor:
        probs = F.softmax(logits[:, -1], dim=-1)[:, digit_tokens.to(logits.device)]
        csum = probs.cumsum(dim=-1)
        yy = years.to(logits.device)
        rows = torch.arange(len(yy), device=logits.device)
        le = torch.where(yy == 0, torch.zeros((), dtype=csum.dtype, device=csum.device), csum[rows, yy])
        return -(csum[:, -1] - 2 * le).mean()

    return metric


def docstring_metric(clean_logits: torch.Tensor, correct: torch.Tensor, wrong: torch.Tensor) -> Metric:
    """The reference's raw docstring metric: -(logit[correct] - max logit[wrong]) at the last position."""

    def metric(logits: torch.Tensor) -> torch.Tensor:
        last = logits[:, -1]
        rows = torch.arange(len(last), device=last.device)
        right = last[rows, correct.to(last.device)]
        worst = last.gather(-1, wrong.to(last.device)).max(dim=-1).values
        return -(right - worst).mean()

    return metric


def masked_kl(clean_logits: torch.Tensor, mask: torch.Tensor) -> Metric:
    """KL(clean || patched) per position, summed over the vocabulary, averaged over masked positions
    (the reference's kl_divergence with mask_repeat_candidates)."""
    base = F.log_softmax(clean_logits, dim=-1)

    def metric(logits: torch.Tensor) -> torch.Tensor:
        kl = F.kl_div(F.log_softmax(logits, dim=-1), base, log_target=True, reduction="none").sum(-1)
        return kl[mask.to(kl.device)].mean()

    return metric


def masked_nll(clean_logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> Metric:
    """The reference's negative_log_probs: -log p(label) averaged over masked positions."""

    def metric(logits: torch.Tensor) -> torch.Tensor:
        lp = F.log_softmax(logits, dim=-1).gather(-1, labels.to(logits.device)[..., None])[..., 0]
        return -lp[mask.to(lp.device)].mean()

    return metric


# ---------------------------------------------------------------- loading ----------------------------------------------------------------


def _model_and_tokenizer(hub_name: str, device: str, dtype: torch.dtype, model=None, model_path: str | None = None, need_tokenizer: bool = True):
    if model is None:
        model = backend.load_pretrained(hub_name, device, dtype, **MODEL_SETTINGS[hub_name])
        tokenizer = None
        if need_tokenizer:
            from acdc_tui.models.hub import load_tokenizer

            tokenizer = load_tokenizer(model, hub_name)
    else:
        tokenizer = None
        if need_tokenizer:
            try:
                from transformers import AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(model_path, local_files_only=True)
            except Exception:
                raise UserError(f"--model {model_path} has no tokenizer files, which this text task needs: save the tokenizer there too (tokenizer.save_pretrained)") from None
    if need_tokenizer and tokenizer is None:
        raise UserError(f"model {hub_name!r} was loaded without a tokenizer: populate the Hugging Face cache with its tokenizer")
    return model, tokenizer


def _task(name, model, clean, corrupted, metrics, default, description, ground_truth) -> Task:
    return Task(
        name=name,
        source="builtin",
        model=model,
        clean=check_tokens(clean, model, "clean tokens"),
        corrupted=check_tokens(corrupted, model, "corrupted tokens"),
        metrics=metrics,
        default_metric=default,
        ground_truth=ground_truth,
        description=description,
    )


def ioi_task_parts(tokenizer, num_examples: int = NUM_EXAMPLES["ioi"]):
    d = hub_data.ioi_data(tokenizer, num_examples)
    metrics = {
        "kl": functools.partial(kl_divergence, positions=(-1,)),
        "logit_diff": functools.partial(logit_diff, correct=d.io_tokens, wrong=d.s_tokens),
        "prob_diff": functools.partial(answer_metric, kind="prob_diff", answers=d.io_tokens, wrong=d.s_tokens),
        "nll": functools.partial(answer_metric, kind="nll", answers=d.io_tokens),
    }
    return d, metrics


def _text_task(name: str, hub_name: str, parts, default: str, description: str, device, dtype, model, model_path, num_examples: int) -> Task:
    """A hub text task: the model and its tokenizer, the task's data and metrics, its ground truth
    (dropped when `--model` replaces the model it describes)."""
    model, tok = _model_and_tokenizer(hub_name, device, dtype, model, model_path)
    d, metrics = parts(tok, num_examples)
    gt = load_ground_truth(name) if model_path is None else None
    return _task(name, model, d.clean, d.corrupted, metrics, default, description, gt)


def ioi(device: str = "cpu", dtype: torch.dtype = torch.float32, model=None, model_path: str | None = None, num_examples: int = NUM_EXAMPLES["ioi"]) -> Task:
    return _text_task("ioi", "gpt2", ioi_task_parts, "kl", "IOI (ABBA, 1 template) on GPT-2 small; patch data ABC", device, dtype, model, model_path, num_examples)


def greaterthan_task_parts(tokenizer, num_examples: int = NUM_EXAMPLES["greaterthan"]):
    d = hub_data.greaterthan_data(tokenizer, num_examples)
    metrics = {
        "greaterthan": functools.partial(greaterthan_prob_diff, years=d.years, digit_tokens=d.digit_tokens),
        "kl": functools.partial(kl_divergence, positions=(-1,)),
    }
    return d, metrics


def greaterthan(device: str = "cpu", dtype: torch.dtype = torch.float32, model=None, model_path: str | None = None, num_examples: int = NUM_EXAMPLES["greaterthan"]) -> Task:
    return _text_task("greaterthan", "gpt2", greaterthan_task_parts, "greaterthan", "greater-than on years on GPT-2 small; patch data start year XX01", device, dtype, model, model_path, num_examples)


def docstring_task_parts(tokenizer, num_examples: int = NUM_EXAMPLES["docstring"]):
    d = hub_data.docstring_data(tokenizer, num_examples)
    metrics = {
        "docstring": functools.partial(docstring_metric, correct=d.correct, wrong=d.wrong),
        "kl": functools.partial(kl_divergence, positions=(-1,)),
    }
    return d, metrics


def docstring(device: str = "cpu", dtype: torch.dtype = torch.float32, model=None, model_path: str | None = None, num_examples: int = NUM_EXAMPLES["docstring"]) -> Task:
    return _text_task("docstring", "attn-only-4l", docstring_task_parts, "docstring", "docstring argument completion on attn-only-4l; patch data random_random", device, dtype, model, model_path, num_examples)


def induction_redwood(device: str = "cpu", dtype: torch.dtype = torch.float32, model=None, model_path: str | None = None, num_examples: int = NUM_EXAMPLES["induction-redwood"], seq_len: int = 300) -> Task:
    """OpenWebText snippets and repeat-candidate masks from the hub repo ArthurConmy/redwood_attn_2l;
    patch data are the rows shuffled (seed 42). No canonical circuit (the paper has none for it)."""
    model, _ = _model_and_tokenizer("redwood_attn_2l", device, dtype, model, model_path, need_tokenizer=False)
    data, mask = _redwood_data()
    clean = data[:num_examples, :seq_len].contiguous()
    labels = data[:num_examples, 1 : seq_len + 1].contiguous()
    mask = mask[:num_examples, :seq_len].bool().contiguous()
    perm = torch.randperm(num_examples, generator=torch.Generator().manual_seed(42))  # the reference's shuffle_tensor(seed=42)
    metrics = {
        "kl": functools.partial(masked_kl, mask=mask),
        "nll": functools.partial(masked_nll, labels=labels, mask=mask),
    }
    return _task("induction-redwood", model, clean, clean[perm], metrics, "kl", "induction on OpenWebText with redwood_attn_2l (hub data)", None)


def _redwood_data() -> tuple[torch.Tensor, torch.Tensor]:
    try:
        from huggingface_hub import hf_hub_download

        data_file = hf_hub_download("ArthurConmy/redwood_attn_2l", "validation_data.pt")
        mask_file = hf_hub_download("ArthurConmy/redwood_attn_2l", "mask_repeat_candidates.pkl")
    except Exception as e:
        raise UserError(f"cannot fetch the induction-redwood data from the hub repo ArthurConmy/redwood_attn_2l ({type(e).__name__}): populate the Hugging Face cache by running once with network access") from None
    # No code from files, ever: the cache is a file anyone with write access to it can replace.
    data = torch_load(data_file, data_file, "token tensors")
    raw = Path(mask_file).read_bytes()[:8] if Path(mask_file).is_file() else b""
    # the mask was written with pickle.dump: a restricted unpickler that knows only a tensor's names
    mask = torch_load(mask_file, mask_file, "a mask tensor") if raw.startswith(b"PK") else load_plain_pickle(mask_file, mask_file, "a mask tensor")
    if not isinstance(data, torch.Tensor) or not isinstance(mask, torch.Tensor) or data.dim() != 2 or mask.shape[0] != data.shape[0]:
        raise UserError(f"the induction-redwood cache files ({data_file}, {mask_file}) do not hold a [rows, positions] token tensor and its mask: delete them and fetch again")
    return data.long(), mask
