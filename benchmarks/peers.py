"""acdc-tui's ACDC against auto-circuit 1.0.1's, on the same model and data, each in its own process.

    .venv/bin/python benchmarks/peers.py [--task medium] [--threshold 0.05] [--venv /work/peers-venv]
                                        [--repeats 1] [--device cpu] [--dir DIR] [--timeout 1800]

1. A virtual environment for auto-circuit (--venv; made once, reused): the same torch as ours
   (2.13.0), auto-circuit 1.0.1 from PyPI, TransformerLens 3.x (auto-circuit does not run on 4) and
   `attrs`, which auto-circuit imports without declaring it.
2. The fixture (benchmarks/fixtures.py) is loaded there into TransformerLens's HookedTransformer
   (our task directories use its config keys and parameter names); auto-circuit's ACDC runs at the
   one τ given (tao_bases=[τ], tao_exps=[0]), KL divergence on the last position, corrupted patching,
   the fixture's clean and corrupted tokens as one batch.
3. `acdc-tui run` on the same fixture and τ (fast engine, float32).

Both run with passive OpenMP waiting and the thread count acdc-tui chooses for the task. Times: each
tool's ACDC loop (auto-circuit: from the call of acdc_prune_scores, which includes its two ablation
passes; acdc-tui: its summary line) and the whole command. auto-circuit's graph (and its edge order)
differs from the reference's, which acdc-tui follows, so only the times compare; both graphs' edge
counts and kept edges are shown.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import fixture_dir, fmt, machine_header, run_cli, thread_env  # noqa: E402

PEER_PACKAGES = ["torch==2.13.0", "auto-circuit==1.0.1", "transformer-lens>=3,<4", "attrs"]

# Runs in the peers' environment. TransformerLens 3 renamed HookedTransformerKeyValueCache (which
# auto-circuit imports, from transformer_lens and from transformer_lens.past_key_value_caching) to
# TransformerLensKeyValueCache and moved it; both old names are put back before auto-circuit loads.
PEER_CHILD = """
import json, sys, time, types
spec = json.loads(sys.argv[1])
import torch
import transformer_lens
if not hasattr(transformer_lens, "HookedTransformerKeyValueCache"):
    cache_class = transformer_lens.TransformerLensKeyValueCache
    transformer_lens.HookedTransformerKeyValueCache = cache_class
    old_module = types.ModuleType("transformer_lens.past_key_value_caching")
    old_module.HookedTransformerKeyValueCache = cache_class
    sys.modules.setdefault("transformer_lens.past_key_value_caching", old_module)
from transformer_lens import HookedTransformer, HookedTransformerConfig
from auto_circuit.data import PromptDataLoader, PromptDataset
from auto_circuit.prune_algos.ACDC import acdc_prune_scores
from auto_circuit.utils.graph_utils import patchable_model
torch.set_num_threads(spec["threads"])
directory, device = spec["task_dir"], spec["device"]
config = json.load(open(f"{directory}/config.json"))
model = HookedTransformer(HookedTransformerConfig(**config, device=device))
weights = torch.load(f"{directory}/weights.pt", weights_only=True)
missing, unexpected = model.load_state_dict(weights, strict=False)
assert not unexpected and all(k.rsplit(".", 1)[-1] in ("IGNORE", "mask") for k in missing), (missing, unexpected)
model.cfg.use_attn_result = model.cfg.use_split_qkv_input = True
model.cfg.use_hook_mlp_in = not config.get("attn_only", False)
model.setup()
model.eval()
tokens = torch.load(f"{directory}/tokens.pt", weights_only=True)
clean, corrupt = tokens["clean"].to(device), tokens["corrupted"].to(device)
batch = clean.shape[0]
answers = [torch.tensor([0]) for _ in range(batch)]  # unused by the KL target
dataset = PromptDataset(clean, corrupt, answers, answers)
loader = PromptDataLoader(dataset, seq_len=None, diverge_idx=0, batch_size=batch, shuffle=False)
patchable = patchable_model(model, factorized=True, slice_output="last_seq", separate_qkv=True, device=torch.device(device))
start = time.time()
scores = acdc_prune_scores(patchable, loader, None, tao_exps=[0], tao_bases=[spec["threshold"]], faithfulness_target="kl_div")
run_s = time.time() - start
kept = int(sum((s == torch.inf).sum().item() for s in scores.values()))
print(json.dumps({"run_s": run_s, "edges": len(patchable.edges), "kept": kept, "threads": torch.get_num_threads(),
                  "transformer_lens": __import__("importlib.metadata").metadata.version("transformer-lens")}))
"""


def ensure_venv(venv: Path) -> Path:
    """The peers' Python, installing what it lacks."""
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"peers: creating {venv}", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = subprocess.run([str(python), "-c", "import auto_circuit, attrs, transformer_lens"], capture_output=True)
    if probe.returncode != 0:
        print(f"peers: installing {' '.join(PEER_PACKAGES)} into {venv} (several minutes the first time)", file=sys.stderr, flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PEER_PACKAGES], check=True)
    return python


def run_peer(python: Path, task_dir: Path, threshold: float, threads: int, device: str, timeout: float) -> dict:
    spec = {"task_dir": str(task_dir), "threshold": threshold, "threads": threads, "device": device}
    env = thread_env(OMP_WAIT_POLICY="PASSIVE", OMP_NUM_THREADS=str(threads), TQDM_DISABLE="1")
    start = time.time()
    done = subprocess.run([str(python), "-c", PEER_CHILD, json.dumps(spec)], capture_output=True, text=True, env=env, timeout=timeout, cwd=tempfile.gettempdir())
    wall = time.time() - start
    if done.returncode != 0:
        raise SystemExit(f"auto-circuit's run failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="medium", help="a fixture of benchmarks/fixtures.py")
    ap.add_argument("--threshold", type=float, default=0.05)
    ap.add_argument("--venv", default="/work/peers-venv", help="auto-circuit's virtual environment (made if missing)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds before a run is cut off")
    ap.add_argument("--dir", default=None, help="where fixtures are written (default: a temporary folder)")
    args = ap.parse_args()
    python = ensure_venv(Path(args.venv))
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="acdc-peers-"))
    task_dir = fixture_dir(args.task, root)
    print(machine_header("benchmarks/peers.py: acdc-tui against auto-circuit 1.0.1, same model and data", f"fixture {args.task}, τ {args.threshold}, KL (last position), corrupted patching, device {args.device}, float32"))
    print(f"{'tool':24} {'graph edges':>11} {'kept':>6} {'ACDC run s':>10} {'command s':>10} {'threads':>7}")
    for _ in range(args.repeats):
        ours = run_cli(["--task-dir", str(task_dir), "--threshold", str(args.threshold), "--device", args.device], thread_env(), None, args.timeout)
        shutil.rmtree(ours.journal.parent, ignore_errors=True)
        if ours.rc != 0 or ours.run_s is None:
            raise SystemExit(f"acdc-tui's run failed ({ours.rc}):\n{ours.stderr[-2000:]}")
        print(f"{'acdc-tui (fast engine)':24} {ours.total:>11} {ours.kept:>6} {ours.run_s:>10.2f} {ours.wall_s:>10.2f} {fmt(ours.threads, 'd'):>7}", flush=True)
        theirs = run_peer(python, task_dir, args.threshold, ours.threads or 1, args.device, args.timeout)
        print(f"{'auto-circuit 1.0.1':24} {theirs['edges']:>11} {theirs['kept']:>6} {theirs['run_s']:>10.2f} {theirs['wall_s']:>10.2f} {theirs['threads']:>7}", flush=True)
        print(f"auto-circuit / acdc-tui: ACDC run {theirs['run_s'] / ours.run_s:.1f}x, whole command {theirs['wall_s'] / ours.wall_s:.1f}x "
              f"(TransformerLens {theirs['transformer_lens']} for auto-circuit)", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    main()
