"""Text task directories on every family (tests/text_task_helpers.py: a tiny random checkpoint, its
tokenizer and six IOI-style rows of 15 tokens): `acdc-tui run --task-dir DIR --metric logit_diff
--dtype float64` on both engines, and the full-model metric against transformers' own logit
difference in float64 (with its RMSNorms and softmax in float64, and as it is: float32 there).

    .venv/bin/python benchmarks/text_families.py [--threshold 0.01] [CASE ...]

Prints the table of docs/measurements/text-families.md; checks that both engines' circuits are equal.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import acdc_tui  # noqa: E402,F401  (its thread settings, before torch starts)
import orjson  # noqa: E402
import torch  # noqa: E402

import tasks  # noqa: E402
from acdc_tui.cli.main import main as acdc_main  # noqa: E402
from benchmarks.common import machine_header  # noqa: E402
from tests.text_task_helpers import TEXT_FAMILIES, hf_logit_diff, write_text_task  # noqa: E402

COLUMNS = "| case | logit difference (ACDC sign) | full vs transformers | transformers as is | circuits equal | max \\|Δ plain − Δ fast\\| | edges kept |"


def as_is_difference(hf, directory: Path, reference: float) -> float:
    """|transformers as it is (float32 norms and softmax in a float64 model) − the exact reference|,
    through our metric on the task's own tokens."""
    task = tasks.load_task(task_dir=str(directory), dtype=torch.float64)
    model = copy.deepcopy(hf).to(torch.float64)
    with torch.no_grad():
        theirs = float(task.metric("logit_diff")[1](model(task.clean).logits))
    return abs(theirs - reference)


def run_both(directory: Path, work: Path, threshold: str) -> dict:
    circuits = {}
    for engine in ("plain", "fast"):
        out = work / f"{directory.name}-{engine}.json"
        argv = ["run", "--task-dir", str(directory), "--metric", "logit_diff", "--threshold", threshold, "--engine", engine,
                "--dtype", "float64", "--quiet", "--out", str(out), "--journal", str(work / f"{directory.name}-{engine}.acdc")]
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            if acdc_main(argv) != 0:
                raise SystemExit(f"{directory.name} {engine}: the run failed")
        circuits[engine] = orjson.loads(out.read_bytes())
    return circuits


def row(case: str, work: Path, threshold: str) -> str:
    directory = work / case
    hf, tokenizer, rows = write_text_task(directory, case)
    reference = hf_logit_diff(hf, tokenizer, rows)
    circuits = run_both(directory, work, threshold)
    plain, fast = circuits["plain"], circuits["fast"]

    def present(circuit):
        return [(e["sender"], e["receiver"], e["present"]) for e in circuit["edges"]]

    deltas = [abs(a["delta"] - b["delta"]) for a, b in zip(plain["edges"], fast["edges"]) if a["delta"] is not None and b["delta"] is not None]
    error = max(abs(c["metrics"]["full"] - reference) for c in (plain, fast))
    summary = plain["summary"]
    return (f"| {case} | {reference:+.6f} | {error:.1e} | {as_is_difference(hf, directory, reference):.1e} | "
            f"{'yes' if present(plain) == present(fast) else 'NO'} | {max(deltas, default=0.0):.1e} | {summary['edges_kept']}/{summary['edges_total']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", default="0.01")
    parser.add_argument("cases", nargs="*", default=list(TEXT_FAMILIES))
    args = parser.parse_args()
    print(machine_header("text task directories on every family", f"threshold {args.threshold}, float64"))
    print(COLUMNS)
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        for case in args.cases:
            print(row(case, Path(work), args.threshold), flush=True)


if __name__ == "__main__":
    main()
