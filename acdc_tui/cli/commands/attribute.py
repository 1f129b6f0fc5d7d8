"""`acdc-tui attribute`: EAP or EAP-IG scores of every tested edge, written as a scores JSON, and with
`--compare CIRCUIT` set beside an ACDC run's exact Δs and decisions."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from acdc_tui.cli import options
from acdc_tui.cli.bounds import bounded_int
from acdc_tui.core.ablation import Ablation
from acdc_tui.core.errors import UserError


def register(subparsers) -> argparse.ArgumentParser:
    from acdc_tui.engines.attribution_method import DEFAULT_STEPS, Method

    p = subparsers.add_parser("attribute", help="EAP / EAP-IG attribution scores of every tested edge (same metric, ablation and graph as a run)")
    options.add_task_source(p)
    options.MODEL.add(p)
    options.PROMPTS.add(p)
    options.BOS.add(p)
    p.add_argument("--method", default=Method.EAP_IG.value, help="eap (gradient on the clean run) or eap-ig (integrated gradients; default)")
    p.add_argument("--steps", type=bounded_int("--steps", 0, 10_000, DEFAULT_STEPS), default=DEFAULT_STEPS, help=f"EAP-IG interpolation steps (default {DEFAULT_STEPS}, as MIB)")
    options.METRIC.add(p)
    options.ZERO_ABLATION.add(p)
    options.MEAN_ABLATION.add(p, help="ablate to each sender's mean over the patch data, per position")
    options.DEVICE.add(p)
    options.DTYPE.add(p)
    options.OUT.add(p, help="scores JSON to write (default scores.json)")
    p.add_argument("--compare", metavar="CIRCUIT", default=None, help="a circuit JSON of an ACDC run on the same model: rank correlation, top-k overlap, disagreements")
    p.add_argument("--top", type=bounded_int("--top", 0, 10_000_000, 10), default=10, metavar="N", help="print the N edges with the largest |score| (default 10)")
    return p


def run(args: argparse.Namespace) -> int:
    import tasks
    from acdc_tui.engines.attribution_method import parse_method
    from acdc_tui.io.circuit import read_circuit
    from acdc_tui.models.backend import check_device, parse_dtype
    from acdc_tui.runs.experiment import Settings, prepare
    from acdc_tui.runs.outputs import check_distinct, check_writable, task_inputs
    from acdc_tui.runs.prefilter import task_attribution

    method = parse_method(args.method)
    if args.steps < 1:
        raise UserError(f"--steps {args.steps}: EAP-IG needs at least one interpolation step")
    parse_dtype(args.dtype)
    check_device(args.device)
    out = Path(args.out if args.out is not None else "scores.json")
    check_writable(out, "--out")
    inputs = task_inputs(args.task_dir, args.model, prompts=args.prompts) + ([("--compare", Path(args.compare))] if args.compare else [])
    check_distinct([("--out", out)], inputs)
    circuit = read_circuit(args.compare) if args.compare else None
    task = tasks.load_task(args.task, args.task_dir, args.device, parse_dtype(args.dtype), model_path=args.model, prompts=args.prompts, bos=args.bos)
    ablation = Ablation.of(args.zero_ablation, args.mean_ablation)
    settings = Settings(threshold=0.0, metric=args.metric, ablation=ablation, engine="plain", device=args.device, dtype=args.dtype)
    exp = prepare(task, settings)
    start = time.monotonic()
    result = task_attribution(task, exp.graph, exp.metric_name, method, ablation, args.steps)
    elapsed = time.monotonic() - start
    scores_file = _scores_file(exp, result, ablation, elapsed)
    from acdc_tui.io.scores import write_scores

    write_scores(scores_file, out)
    sys.stdout.write(_report(exp, result, scores_file, elapsed, args.top))
    if result.vanishing:
        print(f"acdc-tui: warning: every EAP score is zero up to rounding: metric {exp.metric_name!r} is flat on the clean run (its gradient there is {result.gradient_ratio:.1e} of the ablated run's); use --method eap-ig", file=sys.stderr)
    if circuit is not None:
        sys.stdout.write(_compare(exp, circuit, result.scores, args.compare))
    print(f"scores written to {out}")
    return 0


def _scores_file(exp, result, ablation: Ablation, elapsed: float):
    import math

    from acdc_tui import __version__
    from acdc_tui.io.scores import ScoresFile
    from acdc_tui.runs.experiment import describe

    task_info, model_info = describe(exp)
    settings = {"method": result.method.value, "steps": result.steps, **ablation.flags(), "device": exp.settings.device, "dtype": exp.settings.dtype, "use_pos_embed": exp.task.use_pos_embed}
    ratio = None if math.isnan(result.gradient_ratio) else result.gradient_ratio
    summary = {"edges": len(result.scores), "vanishing": result.vanishing, "gradient_ratio": ratio, "elapsed_s": round(elapsed, 3)}
    return ScoresFile(task_info, model_info, settings, summary, dict(result.scores), acdc_tui_version=__version__)


def _report(exp, result, scores_file, elapsed: float, top: int) -> str:
    steps = f" ({result.steps} steps)" if result.method.value == "eap-ig" else ""
    lines = [f"{result.method.value}{steps} on {exp.task.name}, metric {exp.metric_name}: {len(result.scores)} tested edges scored in {elapsed:.2f} s"]
    ranks = scores_file.ranks()
    best = sorted(result.scores, key=ranks.__getitem__)[: max(0, top)]
    if best:
        lines.append(f"{'rank':>5}  {'score (est. Δ)':>14}  edge")
        lines += [f"{ranks[key]:>5}  {result.scores[key]:>+14.6g}  {key[0].label} -> {key[1].label}" for key in best]
    return "\n".join(lines) + "\n"


def _compare(exp, circuit, scores: dict, source: str) -> str:
    from acdc_tui.analysis.attribution import compare, format_comparison, outcomes_of_circuit
    from acdc_tui.runs.experiment import describe

    _, model_info = describe(exp)
    theirs = circuit.model.get("fingerprint")
    if theirs != model_info["fingerprint"]:
        raise UserError(f"--compare {source}: the circuit was found on another model (fingerprint {theirs}, this model's is {model_info['fingerprint']}): compare a circuit of the same task and model")
    notes = []
    s = circuit.settings
    if circuit.task.get("metric") != exp.metric_name:
        notes.append(f"acdc-tui: note: the circuit's metric is {circuit.task.get('metric')!r}, the scores' {exp.metric_name!r}")
    if Ablation.of_flags(s) is not exp.settings.ablation:
        notes.append(f"acdc-tui: note: the circuit's ablation is {Ablation.of_flags(s).value}, the scores' {exp.settings.ablation.value}")
    for line in notes:
        print(line, file=sys.stderr)
    comparison = compare(scores, outcomes_of_circuit(circuit))
    label = f"ACDC ({source}, τ {s.get('threshold')})"
    return format_comparison(comparison, label)
