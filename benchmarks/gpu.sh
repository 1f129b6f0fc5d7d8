#!/usr/bin/env bash
# Issue 12's GPU measurements, in one go (under 10 minutes on one H100/H200-class GPU):
#
#   benchmarks/gpu.sh [--device cuda|cpu] [--fixture gpt2-small] [--threshold 0.05]
#                     [--reference CIRCUIT.json] [--python PYTHON] [--out DIR] [--time-scale X]
#
#   1. a Python with a CUDA torch: --python, else .venv if its torch sees a GPU, else .venv-gpu
#      (created with the system's packages visible; PyPI's torch==2.13.0, the CUDA build, if it has none)
#   2. the fixture (default: GPT-2 small's shape, IOI-sized data 50 x 15, KL), a whole run with the fast
#      engine in float32: time, edges/s over the whole run, peak GPU memory (target: under 60 s)
#   3. the same run in float64 on the GPU; its kept edges must equal float32's, and those of
#      --reference (the circuit JSON of a CPU float64 run on the same fixture and τ) when given
#   4. setup memory of each engine against senders x batch x positions x d_model
#   5. host-device synchronisations per forward pass of the fast engine
#   6. speculation widths on the GPU (tracr, medium, mlp3, the fixture's first 2,000 edges)
#   7. bfloat16 against float32 decisions on the GPU (tracr, induction, mlp3)
#   8. `acdc-tui plan` on the fixture before its float32 run, and its predicted time (seconds per tested
#      edge x the edges the run tested) and peak memory against the run's (benchmarks/plan_check.py);
#      the run's GPU memory after setup and its peak (the bound: peak <= 1.5 x after setup)
#
# Every step has a time limit (times --time-scale) and the script goes on after a failure; the results
# (logs, circuits, summary.txt) go to --out (default: $OUT when set, else benchmarks/results/gpu-DATE).
# Without a GPU, check it end to end with a small model and longer limits:
#   benchmarks/gpu.sh --device cpu --fixture gpt2-narrow --time-scale 6
set -uo pipefail
cd "$(dirname "$0")/.."

device=cuda fixture=gpt2-small threshold=0.05 reference="" python="" out="${OUT:-}" scale=1
while [ $# -gt 0 ]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --fixture) fixture="$2"; shift 2 ;;
    --threshold) threshold="$2"; shift 2 ;;
    --reference) reference="$2"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --time-scale) scale="$2"; shift 2 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "gpu.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
out="${out:-benchmarks/results/gpu-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out" && out="$(cd "$out" && pwd)"
summary="$out/summary.txt"
fixtures="$out/fixtures"
started=$SECONDS

note() { echo "$*" | tee -a "$summary"; }

# 1. the Python
has_gpu() { "$1" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; }
if [ -z "$python" ]; then
  if [ "$device" = cpu ] || has_gpu .venv/bin/python; then
    python=.venv/bin/python
  else
    if [ ! -x .venv-gpu/bin/python ]; then
      python3 -m venv --system-site-packages .venv-gpu || { note "gpu.sh: cannot create .venv-gpu"; exit 1; }
    fi
    if ! has_gpu .venv-gpu/bin/python; then
      .venv-gpu/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0 || note "gpu.sh: installing torch==2.13.0 (CUDA) failed"
    fi
    .venv-gpu/bin/python -c 'import networkx, orjson' 2>/dev/null || .venv-gpu/bin/python -m pip install -q --disable-pip-version-check networkx orjson numpy
    .venv-gpu/bin/python -c 'import acdc_tui' 2>/dev/null || .venv-gpu/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
    python=.venv-gpu/bin/python
  fi
fi
if [ "$device" != cpu ] && ! has_gpu "$python"; then
  note "gpu.sh: $python's torch sees no GPU: run on a GPU machine, or check the script with --device cpu"
  exit 1
fi
note "gpu.sh: device $device, fixture $fixture, τ $threshold, python $python, results in $out"
{ command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; } 2>/dev/null | sed 's/^/gpu: /' | tee -a "$summary"
"$python" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' | tee -a "$summary"

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to OUT/NAME.log, keep going
  local name="$1" limit="$(awk -v s="$2" -v k="$scale" 'BEGIN { printf "%d", s * k }')"; shift 2
  local t0=$SECONDS
  note "== $name (limit ${limit} s)"
  timeout "$limit" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  grep -v '^#' "$out/$name.log" | tail -n 25 | tee -a "$summary"
  case $rc in
    0) note "-- $name: done in $((SECONDS - t0)) s" ;;
    124) note "-- $name: stopped at its limit of ${limit} s" ;;
    *) note "-- $name: failed (exit $rc), see $out/$name.log" ;;
  esac
}

# 2 and 3: whole runs, float32 then float64; `acdc-tui plan` first, its predictions set against the float32 run's
[ -f "$fixtures/$fixture/tokens.pt" ] || "$python" benchmarks/fixtures.py "$fixture" "$fixtures/$fixture" > /dev/null
step plan 60 bash -c '"$0" -m acdc_tui plan --task-dir "$1" --threshold "$2" --device "$3" --json > "$4" && cat "$4"' "$python" "$fixtures/$fixture" "$threshold" "$device" "$out/plan.json"
step run-float32 120 "$python" benchmarks/gpt2_scale.py --memory "" --run "$fixture" --threshold "$threshold" --device "$device" --dtype float32 --dir "$fixtures" --keep "$out/circuits"
step run-float64 150 "$python" benchmarks/gpt2_scale.py --memory "" --run "$fixture" --threshold "$threshold" --device "$device" --dtype float64 --dir "$fixtures" --keep "$out/circuits"
step same-edges 20 "$python" - "$out/circuits/$fixture-$device-float32.json" "$out/circuits/$fixture-$device-float64.json" $reference <<'EOF'
import sys
sys.path.insert(0, "benchmarks")
from common import kept_edges
from pathlib import Path
base, *others = sys.argv[1:]
missing = [name for name in (base, *others) if not Path(name).exists()]
if missing:
    sys.exit(f"no circuit {missing[0]}: its run did not finish, so there is nothing to compare")
kept = kept_edges(Path(base))
for other in others:
    theirs = kept_edges(Path(other))
    verdict = "the same kept edges" if kept == theirs else f"DIFFERENT: {len(kept - theirs)} only in float32, {len(theirs - kept)} only in {other}"
    print(f"{base} ({len(kept)} kept) against {other} ({len(theirs)} kept): {verdict}")
EOF
step plan-vs-run 20 "$python" benchmarks/plan_check.py --device "$device" --plan "$out/plan.json" --run-log "$out/run-float32.log"

# 4 to 7
step memory 90 "$python" benchmarks/gpt2_scale.py --memory "$fixture" --run "" --device "$device" --dir "$fixtures"
step host-syncs 45 "$python" benchmarks/host_syncs.py --task-dir "$fixtures/$fixture" --threshold "$threshold" --device "$device"
step speculation 90 "$python" benchmarks/speculation.py --tasks "tracr-reverse:0.01,medium:0.05,mlp3:0.05,$fixture:$threshold" --edges "$fixture:2000" --loads quiet --device "$device" --dir "$fixtures"
step bfloat16 45 "$python" benchmarks/bfloat16.py --tasks "tracr-reverse:0.01,tracr-proportion:0.01,induction:0.1,mlp3:0.05" --device "$device" --dir "$fixtures"
note "gpu.sh: finished in $((SECONDS - started)) s; summary in $summary"
