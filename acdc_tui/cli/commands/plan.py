"""`acdc-tui plan`: what a run will cost before it runs: the graph's size, memory (model, engine,
predicted peak, and one line when it will not fit), and time (seconds per tested edge per layer,
calibrated on this machine and device; every edge tested; a typical range). The same task, model and
data options as `run` (one recipe); nothing is written."""

from __future__ import annotations

import argparse
import json
import sys

from acdc_tui.cli import options
from acdc_tui.cli.bounds import bounded_int


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("plan", help="what a run would cost, before running it: graph size, memory and peak, time per edge and in all")
    hidden = {"help": argparse.SUPPRESS}  # run's output options mean nothing here
    t = options.DEFAULT_THRESHOLD
    options.add_run_options(p, {
        options.THRESHOLD: {"help": f"τ: an edge is removed if the metric rises by less than this (default {t})"},
        options.OUT: hidden, options.LOG: hidden, options.DOT: hidden, options.QUIET: hidden, options.HEADLESS: hidden,
    })
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--memory-limit", metavar="SIZE", default=None, help="the memory the run may use, e.g. 16GiB (default: $ACDC_TUI_MEMORY_LIMIT, else the GPU's memory or the system's available memory)")
    p.add_argument("--calibrate", type=bounded_int("--calibrate", 1, 10_000, 3), default=3, metavar="N", help="real evaluations timed per layer (default 3)")
    return p


def run(args: argparse.Namespace) -> int:
    import tasks
    from acdc_tui.models.backend import check_device, parse_dtype
    from acdc_tui.runs.cost import make_plan, parse_size

    recipe = options.recipe_from_args(args)
    options.check_task_source(recipe)
    limit = parse_size(args.memory_limit) if args.memory_limit is not None else None
    dtype = parse_dtype(recipe.dtype)
    check_device(recipe.device)
    task = tasks.load_task(recipe.task, recipe.task_dir, recipe.device, dtype, model_path=recipe.model, prompts=recipe.prompts, bos=recipe.bos)
    plan = make_plan(task, recipe.settings(), limit, args.calibrate)
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
        mark = "~" if row.get("timed") is False else " "  # interpolated between the layers timed
        lines.append(f"  {label:>5}  {row.get('nodes', 0):>6}  {row.get('edges', 0):>12}  {'-' if cost is None else mark + f'{cost * 1000:.2f} ms':>15}  "
                     f"{'-' if cost is None else format_duration(cost * row.get('edges', 0)):>9}")
    how = "measured after setup and a few evaluations" if plan.memory_measured else "predicted from the shapes"
    lines.append(f"memory: model {fmt_bytes(plan.model_bytes)}, engine {fmt_bytes(plan.engine_bytes)}, peak {fmt_bytes(plan.memory_peak_bytes)} ({how}); "
                 f"available {fmt_bytes(plan.memory_available)} ({plan.memory_source})")
    if plan.seconds_per_tested_edge is not None:
        lo, hi = plan.seconds_typical
        lines.append(f"time: {plan.seconds_per_tested_edge * 1000:.2f} ms per tested edge (mean over the graph's edges, {plan.calibration_evaluations} evaluations timed from the clean state; ~ interpolated); "
                     f"every edge tested {format_duration(plan.seconds_all_edges)}; typical run {format_duration(lo)} to {format_duration(hi)}")
        lines.append("      a run's tests cost what its circuit makes them: up to 2x these where it stays dense (medium: 1.2-1.9x), "
                     "down to a twentieth where it thins out (GPT-2 small: 0.04-0.58x); docs/cost.md")
    if not plan.fits:
        lines.append(plan.advice)
    return "\n".join(lines) + "\n"
