"""`acdc-tui plan`: what a run will cost before it runs: the graph's size, memory (model, engine,
predicted peak, and one line when it will not fit), and time (seconds per tested edge per layer,
calibrated on this machine and device; every edge tested; a typical range). Same task, model and
data options as `run`; nothing is written."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(subparsers, add_run_options) -> None:
    p = subparsers.add_parser("plan", help="what a run would cost, before running it: graph size, memory and peak, time per edge and in all")
    add_run_options(p, threshold_required=False)
    for action in p._actions:  # run's output options mean nothing here
        if action.dest in ("out", "log", "dot", "quiet", "headless"):
            action.help = argparse.SUPPRESS
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--memory-limit", metavar="SIZE", default=None, help="the memory the run may use, e.g. 16GiB (default: $ACDC_TUI_MEMORY_LIMIT, else the GPU's memory or the system's available memory)")
    p.add_argument("--calibrate", type=int, default=3, metavar="N", help="real evaluations timed per layer (default 3)")


def run(args: argparse.Namespace) -> int:
    import tasks
    from acdc_tui.cli.main import settings_from_args
    from acdc_tui.core.errors import UserError
    from acdc_tui.models.backend import check_device, parse_dtype
    from acdc_tui.runs.cost import make_plan, parse_size

    if args.calibrate < 1:
        raise UserError(f"--calibrate {args.calibrate}: time at least one evaluation per layer")
    limit = parse_size(args.memory_limit) if args.memory_limit is not None else None
    dtype = parse_dtype(args.dtype)
    check_device(args.device)
    task = tasks.load_task(args.task, args.task_dir, args.device, dtype, model_path=args.model)
    plan = make_plan(task, settings_from_args(args), limit, args.calibrate)
    if args.json:
        sys.stdout.write(json.dumps(plan.to_json()) + "\n")
    else:
        sys.stdout.write(render(plan, task.name))
        if not plan.fits:
            print(f"acdc-tui: {plan.advice}", file=sys.stderr)
    return 0 if plan.fits else 1


def render(plan, name: str) -> str:
    from acdc_tui.runs.cost import fmt_bytes
    from acdc_tui.runs.progress import format_duration

    lines = [f"plan: {name}, {plan.engine} engine, {plan.device} {plan.dtype}; S {plan.senders} senders x B {plan.batch} x P {plan.positions} x D {plan.d_model}",
             f"graph: {plan.nodes} nodes, {plan.edges_total} edges, {plan.edges_tested} tested by ACDC"]
    header = "  layer   nodes  tested edges  s / tested edge  all edges"
    lines.append(header)
    for layer in sorted(plan.layers, reverse=True):
        row = plan.layers[layer]
        label = "input" if layer == -1 else str(layer)  # the output is in the last layer
        cost = row.get("seconds_per_tested_edge")
        lines.append(f"  {label:>5}  {row.get('nodes', 0):>6}  {row.get('edges', 0):>12}  {'-' if cost is None else f'{cost * 1000:10.2f} ms':>15}  "
                     f"{'-' if cost is None else format_duration(cost * row.get('edges', 0)):>9}")
    how = "measured after setup and a few evaluations" if plan.memory_measured else "predicted from the shapes"
    lines.append(f"memory: model {fmt_bytes(plan.model_bytes)}, engine {fmt_bytes(plan.engine_bytes)}, peak {fmt_bytes(plan.memory_peak_bytes)} ({how}); "
                 f"available {fmt_bytes(plan.memory_available)} ({plan.memory_source})")
    if plan.seconds_per_tested_edge is not None:
        lo, hi = plan.seconds_typical
        lines.append(f"time: {plan.seconds_per_tested_edge * 1000:.2f} ms per tested edge (mean over the graph's edges, {plan.calibration_evaluations} evaluations timed); "
                     f"every edge tested {format_duration(plan.seconds_all_edges)}; typical run {format_duration(lo)} to {format_duration(hi)}")
    if not plan.fits:
        lines.append(plan.advice)
    return "\n".join(lines) + "\n"
