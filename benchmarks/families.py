"""Each supported family on a tiny random Hugging Face checkpoint (tests/hf_families.py: 2 layers,
d_model 64, 4 heads, vocabulary 40; the "-window" cases with sliding windows shorter than the
prompts): a whole ACDC run with each engine, edges tested per second, and the largest |logit
difference| against transformers in float64 (as it is: its RMSNorms round to float32; and with
those norms in float64), on 3 prompts of 20 positions.

    .venv/bin/python benchmarks/families.py [--batch 20] [--pos 24] [--threshold 0.05] [--dtype float32]

Both engines' circuits are checked to be identical. Run it on a quiet machine; on a shared one, the
edges per CPU-second (one thread: the process's own CPU time) are less disturbed than the wall-clock rates.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import acdc_tui  # noqa: E402,F401  (its thread settings, before torch starts)
import torch  # noqa: E402

import tasks  # noqa: E402
from acdc_tui.core.events import EdgeTested  # noqa: E402
from acdc_tui.runs.experiment import Settings, prepare  # noqa: E402
from tests.hf_families import write_checkpoint, write_tokens  # noqa: E402

FAMILIES = ("gpt2", "pythia", "gptj", "llama", "llama3", "qwen2", "qwen2-window", "mistral", "mistral-window", "gemma", "qwen3", "qwen3-window", "phi3")


# Gemma's tiny checkpoint has small logits (embedding × √d, norms near 1): its Δs are ~25× smaller, so
# τ = 0.05 would remove every edge at once; this τ keeps some (as in tests/test_family_exactness.py)
THRESHOLD_SCALE = {"gemma": 0.04}


def logit_differences(d: Path) -> tuple[float, float]:
    """max |ours - transformers| in float64: transformers as it is, and with its RMSNorms in float64."""
    from acdc_tui.models import backend
    from tests.test_family_exactness import float64_norms

    tokens = torch.randint(0, 40, (3, 20), generator=torch.Generator().manual_seed(2))
    ours = backend.logits(backend.load_checkpoint(str(d), "cpu", torch.float64), tokens)
    hf = backend_hf(d)
    with torch.no_grad():
        as_is = float((hf(tokens).logits - ours).abs().max())
        exact = float((float64_norms(hf)(tokens).logits - ours).abs().max())
    return as_is, exact


def backend_hf(d: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(d), dtype=torch.float64).eval()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--pos", type=int, default=24)
    p.add_argument("--threshold", type=float, default=0.05)
    p.add_argument("--dtype", default="float32")
    args = p.parse_args()
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp())
    print(f"{'family':14} {'edges':>6} {'build s':>8} {'plain e/s':>10} {'fast e/s':>10} {'ratio':>6} {'plain e/cpu-s':>13} {'fast e/cpu-s':>12} {'kept':>5} same  {'|Δlogit| f64':>12} {'f64 norms':>9}")
    for family in FAMILIES:
        d = root / family
        write_checkpoint(d, family)
        write_tokens(d, batch=args.batch, pos=args.pos)
        start = time.perf_counter()
        task = tasks.load_task(None, str(d), "cpu", getattr(torch, args.dtype))
        build = time.perf_counter() - start
        rates, cpu_rates, present = {}, {}, {}
        for engine in ("plain", "fast"):
            exp = prepare(task, Settings(threshold=args.threshold * THRESHOLD_SCALE.get(family, 1.0), engine=engine, dtype=args.dtype))
            start, cpu = time.perf_counter(), time.process_time()
            tested = sum(isinstance(ev, EdgeTested) for ev in exp.run.events())
            rates[engine] = tested / (time.perf_counter() - start)
            cpu_rates[engine] = tested / (time.process_time() - cpu)
            tested_keys = {e.key for e in exp.graph.tested_edges}
            present[engine] = {k for k, r in exp.run.records.items() if r.present and k in tested_keys}  # tested edges kept
        n = len(exp.graph.tested_edges)
        as_is, exact = logit_differences(d)
        same = present["plain"] == present["fast"]
        print(f"{family:14} {n:6d} {build:8.2f} {rates['plain']:10.0f} {rates['fast']:10.0f} {rates['fast'] / rates['plain']:6.1f} {cpu_rates['plain']:13.0f} {cpu_rates['fast']:12.0f} {len(present['fast']):5d} {same!s:5} {as_is:12.1e} {exact:9.1e}")


if __name__ == "__main__":
    main()
