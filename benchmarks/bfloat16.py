"""Would a bfloat16 option make float32's decisions? ACDC on each task in float32 and in bfloat16 (the
plain engine: the fast one runs float32 and float64 only), tested edge by tested edge.

    .venv/bin/python benchmarks/bfloat16.py [--tasks tracr-reverse:0.01,tracr-reverse:1e-6:zero,tracr-proportion:0.01,induction:0.1,mlp3:0.05]
                                           [--edges N] [--device cpu|cuda] [--dir DIR]

A task is a builtin task or a fixture of benchmarks/fixtures.py, `:zero` for zero ablation. It prints,
per task, the kept edges in each dtype and the first tested edge where the decisions differ. acdc-tui
offers no bfloat16 option because on mlp3 they differ (see docs/measurements/gpt2-scale.md); rerun this when that
question comes back (on a GPU: `--device cuda`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import acdc_tui  # noqa: E402,F401  (thread settings before torch)
import torch  # noqa: E402
from acdc_tui.core.ablation import Ablation  # noqa: E402

import tasks  # noqa: E402
from acdc_tui.core.events import EdgeTested  # noqa: E402
from acdc_tui.runs.experiment import Settings, prepare  # noqa: E402
from common import fixture_dir, machine_header  # noqa: E402


def decisions(task_name: str, root: Path, threshold: float, zero: bool, dtype: torch.dtype, device: str, limit: int | None) -> tuple[list, int]:
    builtin = task_name in tasks.TASK_NAMES
    task = tasks.load_task(task_name if builtin else None, None if builtin else fixture_dir(task_name, root), device, torch.float32)
    task.model.to(dtype)  # before the metric reads the clean logits: a whole run in this dtype
    exp = prepare(task, Settings(threshold=threshold, engine="plain", ablation=Ablation.of(zero, False), device=device))
    tested = []
    for event in exp.run.events():
        if isinstance(event, EdgeTested):
            tested.append((event.edge.key, event.removed))
            if limit and len(tested) >= limit:
                break
    return tested, exp.run.kept()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="tracr-reverse:0.01,tracr-reverse:1e-6:zero,tracr-proportion:0.01,induction:0.1,mlp3:0.05")
    ap.add_argument("--edges", type=int, default=None, help="compare the first N tested edges only")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dir", default=None, help="where fixtures are written (default: a temporary folder)")
    args = ap.parse_args()
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="acdc-bf16-"))
    print(machine_header("benchmarks/bfloat16.py: bfloat16 against float32 decisions (plain engine)", f"device {args.device}"))
    for spec in args.tasks.split(","):
        name, tau, *flags = spec.split(":")
        zero = "zero" in flags
        f32, kept32 = decisions(name, root, float(tau), zero, torch.float32, args.device, args.edges)
        b16, kept16 = decisions(name, root, float(tau), zero, torch.bfloat16, args.device, args.edges)
        first = next((i for i, (a, b) in enumerate(zip(f32, b16)) if a != b), None)
        if first is None and len(f32) != len(b16):
            first = min(len(f32), len(b16))
        verdict = "same decisions" if first is None else f"differ from tested edge {first + 1}"
        print(f"{name:16} τ {tau:>6} {'zero' if zero else 'corrupted':9}: tested {len(f32)} / {len(b16)}, kept {kept32} (float32) / {kept16} (bfloat16): {verdict}", flush=True)


if __name__ == "__main__":
    main()
