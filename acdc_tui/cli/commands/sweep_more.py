"""`acdc-tui sweep --ray [ADDRESS]` (the sweep's points as Ray tasks) and `acdc-tui sweep --top-k METHOD`
(attribution's top-k circuits at MIB's edge fractions): the same sweep JSON and report as the
sequential sweep over τ (commands/sweep.py, which declares these options), the default, which needs no Ray."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from acdc_tui.core.errors import UserError

LOCAL = ""  # `--ray` without an address: start a local Ray


def wants(args: argparse.Namespace) -> bool:
    """Whether this module runs the sweep (else the sequential sweep over τ does)."""
    if getattr(args, "ray_cpus", None) is not None and args.ray is None:
        raise UserError("--ray-cpus sizes a local Ray: add --ray, or drop --ray-cpus")
    return args.top_k is not None or args.ray is not None


def run(args: argparse.Namespace) -> int:
    """The sweep with --top-k or --ray (commands/sweep.py has refused the options of `run` alone)."""
    if args.ray_cpus is not None and args.ray not in (None, LOCAL):
        raise UserError(f"--ray-cpus sizes a local Ray, not the cluster at {args.ray}: drop one of them")
    if args.top_k is not None:
        if args.ray is not None:
            raise UserError("--top-k evaluates one circuit per fraction, with no ACDC run to spread: drop --ray")
        return _run_topk(args)
    return _run_ray(args)


def _outputs(args: argparse.Namespace) -> Path:
    from acdc_tui.runs.outputs import check_distinct, task_inputs

    if args.out == "":
        raise UserError("--out is empty: give a file name")
    out = Path(args.out) if args.out else Path("sweep.json")
    check_distinct([("--out", out)], task_inputs(args.task_dir, args.model, prompts=args.prompts))
    return out


def _load(args: argparse.Namespace, device: str):
    import tasks
    from acdc_tui.models.backend import parse_dtype

    return tasks.load_task(args.task, args.task_dir, device, parse_dtype(args.dtype), model_path=args.model, prompts=args.prompts, bos=args.bos)


def _run_topk(args: argparse.Namespace) -> int:
    from acdc_tui.analysis.topk import MIB_FRACTIONS, parse_fractions, run_topk_sweep
    from acdc_tui.cli.options import recipe_from_args
    from acdc_tui.engines.attribution_method import parse_method
    from acdc_tui.models.backend import check_device, parse_dtype
    from acdc_tui.runs.experiment import prepare
    from acdc_tui.runs.prefilter import task_attribution

    for flag, value in (("--journal", args.journal), ("--prefilter", args.prefilter), ("--pin", args.pin), ("--force-prune", args.force_prune)):
        if value:
            raise UserError(f"--top-k runs no ACDC, so it takes no {flag}")
    method = parse_method(args.top_k)
    fractions = parse_fractions(args.fractions) if args.fractions is not None else list(MIB_FRACTIONS)
    parse_dtype(args.dtype)
    check_device(args.device)
    out = _outputs(args)
    task = _load(args, args.device)
    exp = prepare(task, recipe_from_args(args).settings(0.0))
    scores = task_attribution(task, exp.graph, exp.metric_name, method, exp.settings.ablation, args.steps)
    if scores.vanishing:
        raise UserError(f"--top-k {method.value}: every EAP score is zero, because metric {exp.metric_name!r} is flat on the clean run; use --top-k eap-ig")
    result = run_topk_sweep(exp, scores.scores, {"method": method.value, "steps": scores.steps}, fractions, quiet=args.quiet)
    return finish(result, args, out, f"{len(result.points)} top-k circuits")


def _run_ray(args: argparse.Namespace) -> int:
    import torch

    from acdc_tui.analysis.ray_sweep import import_ray, run_ray_sweep
    from acdc_tui.analysis.sweep import parse_logspace, parse_thresholds
    from acdc_tui.cli import signals
    from acdc_tui.cli.options import recipe_from_args, task_label
    from acdc_tui.models.backend import parse_dtype
    from acdc_tui.runs.outputs import OutputLocks
    from acdc_tui.runs.paths import new_journal_path
    from acdc_tui.runs.prefilter import Prefilter

    import_ray()  # one line now if Ray is missing, before any model loads
    thresholds = parse_thresholds(args.thresholds) if args.thresholds is not None else parse_logspace(args.logspace)
    parse_dtype(args.dtype)
    if args.prefilter is not None:
        Prefilter.parse(args.prefilter)
    out = _outputs(args)
    if args.journal == "":
        raise UserError("--journal is empty: give a folder for the points' journals")
    folder = Path(args.journal) if args.journal else new_journal_path(f"{task_label(args)}-sweep", None).with_suffix("")
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--journal {folder} is a file: with --ray it names a folder, one journal per point")
    # The workers load the task where Ray puts them; this process only needs it for the full and empty
    # metrics and the ground truth, on the CPU if it has no GPU itself.
    here = args.device if not args.device.startswith("cuda") or torch.cuda.is_available() else "cpu"
    locks = OutputLocks([("--out", out)], None)
    try:
        exp = _prepare_here(args, here, thresholds[0])
        recipe = recipe_from_args(args).loading()
        previous = signals.install()
        try:
            address = None if args.ray == LOCAL else args.ray
            result = run_ray_sweep(exp, thresholds, recipe, folder, address, args.ray_cpus, quiet=args.quiet)
        finally:
            signals.restore(previous)
        rerun = f"run the same command with --journal {folder} to finish the others"
        return finish(result, args, out, f"{len(result.points)} thresholds on Ray; the points' journals are in {folder}", rerun)
    finally:
        locks.release()


def _prepare_here(args: argparse.Namespace, device: str, threshold: float):
    from acdc_tui.cli.options import recipe_from_args
    from acdc_tui.runs.experiment import prepare

    if device != args.device:
        print("acdc-tui: note: no GPU here: the full and empty metrics are evaluated on the CPU, the points on the cluster's GPUs", file=sys.stderr)
    return prepare(_load(args, device), recipe_from_args(args).settings(threshold))


def finish(result, args: argparse.Namespace, out: Path, what: str, unfinished: str = "") -> int:
    """Write the sweep JSON (while the caller holds its lock), print the report and a summary line; the
    exit status says whether the sweep was interrupted (`unfinished` says where the rest is)."""
    from acdc_tui.analysis.sweep import format_report, write_sweep
    from acdc_tui.analysis.text_plot import wants_ascii

    write_sweep(result, out, with_edges=args.with_edges)
    sys.stdout.write(format_report(result, ascii=args.ascii or wants_ascii(sys.stdout)))
    auc = "" if result.auc is None else f"; AUC {result.auc:.3f}"
    sys.stdout.write(f"Summary: {what} in {result.elapsed_s:.2f} s{auc}; sweep written to {out}\n")
    sys.stdout.flush()
    if not result.complete:
        print(f"acdc-tui: interrupted: the points finished so far are saved in {out} (\"complete\": false); {unfinished}", file=sys.stderr)
        return 128 + (result.signal or 2)
    return 0
