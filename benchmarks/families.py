"""Each supported family on a tiny random Hugging Face checkpoint (tests/hf_families.py: 2 layers,
d_model 64, 4 heads, vocabulary 40): a whole ACDC run with each engine, edges tested per second.

    .venv/bin/python benchmarks/families.py [--batch 20] [--pos 24] [--threshold 0.05] [--dtype float32]

Both engines' circuits are checked to be identical. Run it on a quiet machine.
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

FAMILIES = ("gpt2", "pythia", "gptj", "llama", "qwen2", "mistral")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--pos", type=int, default=24)
    p.add_argument("--threshold", type=float, default=0.05)
    p.add_argument("--dtype", default="float32")
    args = p.parse_args()
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp())
    print(f"{'family':8} {'edges':>6} {'build s':>8} {'plain e/s':>10} {'fast e/s':>10} {'ratio':>6} same")
    for family in FAMILIES:
        d = root / family
        write_checkpoint(d, family)
        write_tokens(d, batch=args.batch, pos=args.pos)
        start = time.perf_counter()
        task = tasks.load_task(None, str(d), "cpu", getattr(torch, args.dtype))
        build = time.perf_counter() - start
        rates, present = {}, {}
        for engine in ("plain", "fast"):
            exp = prepare(task, Settings(threshold=args.threshold, engine=engine, dtype=args.dtype))
            start = time.perf_counter()
            tested = sum(isinstance(ev, EdgeTested) for ev in exp.run.events())
            rates[engine] = tested / (time.perf_counter() - start)
            present[engine] = {k for k, r in exp.run.records.items() if r.present}
        n = len(exp.graph.tested_edges)
        print(f"{family:8} {n:6d} {build:8.2f} {rates['plain']:10.0f} {rates['fast']:10.0f} {rates['fast'] / rates['plain']:6.1f} {present['plain'] == present['fast']}")


if __name__ == "__main__":
    main()
