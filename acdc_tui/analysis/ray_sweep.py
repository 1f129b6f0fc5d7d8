"""Sweeps on Ray: every τ of a sweep as a Ray task, each with its own journal, gathered into the same
SweepResult (and so the same sweep JSON) as the sequential sweep.

* Ray is optional (`pip install acdc-tui[ray]`): nothing imports it until a sweep asks for it.
* `address` None starts a local Ray; "auto" joins the cluster this machine belongs to; anything else
  is a cluster address (`HOST:6379`, `ray://HOST:10001`).
* A point takes one CPU, or one GPU when the run's device is CUDA (Ray then makes that GPU the
  worker's `cuda`). Points whose task, model and settings agree share one experiment (model, graph,
  ablated activations, engine) per worker process, as the sequential sweep shares one engine.
* Each point writes `point-NNN-tauT.journal` in the sweep's journal folder: an ordinary run journal,
  so `acdc-tui resume/export/log/ps` work on it. A point whose journal exists is not run again: a
  finished one is read back from its journal, an unfinished one (its worker died, Ray retried the
  task; or the whole sweep is started again on the same folder) resumes from it with `open_resume`
  and the run loop. With several machines the folder must be on a filesystem they share.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import IO, Sequence

import orjson

from acdc_tui.analysis import roc as roc_mod
from acdc_tui.analysis.sweep import SweepPoint, SweepResult, add_roc, edge_key
from acdc_tui.core.errors import UserError
from acdc_tui.runs.evaluation import empty_metric, full_metric
from acdc_tui.runs.experiment import Experiment
from acdc_tui.runs.journal.schema import SUFFIX

POINT_RETRIES = 3  # Ray reruns a point whose worker died; the rerun resumes from the point's journal
_EXPERIMENTS: dict[bytes, Experiment] = {}  # per worker process: (recipe, settings) -> experiment


def point_journal(folder: Path, index: int, threshold: float) -> Path:
    return folder / f"point-{index:03d}-tau{threshold:g}{SUFFIX}"


def import_ray():
    try:
        import ray
    except ImportError:
        raise UserError("--ray needs Ray, an optional extra: pip install 'acdc-tui[ray]' (or run the sweep without --ray)") from None
    return ray


def _probe(address: str, timeout: float = 5.0) -> None:
    """HOST:PORT or ray://HOST:PORT: one TCP connect with a timeout, so nothing listening is one line
    in seconds (ray.init alone retries for minutes)."""
    import socket

    from acdc_tui.core.errors import UserError

    target = address.split("://", 1)[-1]
    if address == "auto" or ":" not in target:
        return
    host, _, port = target.rpartition(":")
    if not port.isdigit():
        raise UserError(f"--ray {address}: the port {port!r} is not a number: give HOST:PORT or ray://HOST:PORT")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as e:
        raise UserError(f"--ray {address}: nothing answers there ({e.strerror or type(e).__name__} within {timeout:.0f} s); start a cluster with `ray start --head`, or give no address for a local one") from None


def run_ray_sweep(
    exp: Experiment, thresholds: Sequence[float], recipe: dict, folder: Path, address: str | None = None,
    num_cpus: int | None = None, stderr: IO[str] | None = None, quiet: bool = False,
) -> SweepResult:
    """The sweep's points as Ray tasks; `exp` (this process's) gives the full and empty metrics and the
    ground truth, as in the sequential sweep. Ctrl-C cancels the points still running (their
    journals resume them later); the points finished are kept."""
    from acdc_tui.analysis.text_plot import wants_ascii

    ray = import_ray()
    stderr = stderr or sys.stderr
    tau_sym = "tau" if wants_ascii(stderr) else "τ"
    _connect(ray, address, num_cpus)
    gpu = exp.settings.device.startswith("cuda")
    if gpu and not ray.cluster_resources().get("GPU"):
        raise UserError(f"--device {exp.settings.device} with --ray, but the Ray cluster has no GPU: use --device cpu, or a cluster with GPUs")
    remote = ray.remote(run_point).options(num_cpus=1, num_gpus=1 if gpu else 0, max_retries=POINT_RETRIES)
    settings = dataclasses.asdict(exp.settings)
    folder.mkdir(parents=True, exist_ok=True)
    refs = {remote.remote(recipe, settings, tau, str(point_journal(folder, i, tau))): i for i, tau in enumerate(thresholds, 1)}
    result = SweepResult(exp, list(thresholds))
    truth, universe = exp.task.ground_truth, frozenset(edge_key(e) for e in exp.graph.tested_edges)
    summaries: dict[int, dict] = {}
    start = time.monotonic()
    try:
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            i = refs[done[0]]
            summaries[i] = ray.get(done[0])
            if not quiet:
                s = summaries[i]
                stderr.write(f"[{len(summaries)}/{len(thresholds)}] {tau_sym}={s['threshold']:.6g}: kept {s['edges_kept']}/{exp.run.total} edges, metric {s['metric']:.6g} ({s['elapsed_s']:.2f} s, journal {point_journal(folder, i, s['threshold']).name})\n")
                stderr.flush()
        result.complete = all(s["complete"] for s in summaries.values())
    except KeyboardInterrupt as interrupt:
        for ref in refs:
            ray.cancel(ref)
        result.signal = getattr(interrupt, "signum", 2)
    for i in sorted(summaries):
        result.points.append(_point(thresholds[i - 1], summaries[i], truth, universe))
    result.full, result.empty = full_metric(exp), empty_metric(exp)
    result.elapsed_s = time.monotonic() - start
    add_roc(result, truth, universe)
    return result


def _connect(ray, address: str | None, num_cpus: int | None) -> None:
    if ray.is_initialized():
        return
    try:
        if address is None:
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
        else:
            _probe(address)
            ray.init(address=address, log_to_driver=False)
    except ConnectionError as e:
        raise UserError(f"--ray {address}: cannot join the Ray cluster ({str(e).strip().splitlines()[0]}); start one with `ray start --head`, or give no address for a local one") from None


def _point(threshold: float, summary: dict, truth, universe) -> SweepPoint:
    edges = frozenset(tuple(k) for k in summary["edges"])
    point = SweepPoint(threshold, summary["edges_kept"], summary["metric"], summary["complete"], summary["elapsed_s"], edges)
    if truth is not None:
        point.confusion = roc_mod.confusion(edges, truth, universe)
    return point


# ---- on the worker ----


def run_point(recipe: dict, settings: dict, threshold: float, journal: str) -> dict:
    """One point, run, resumed or read back from its journal; a JSON-friendly summary."""
    path = Path(journal)
    exp = _experiment(recipe, settings)
    if path.exists():
        finished = _finished(path, exp)
        return finished if finished is not None else _resume(path)
    from acdc_tui.runs.experiment import new_run
    from acdc_tui.runs.identity import Recipe, journal_meta
    from acdc_tui.runs.journal.schema import CommandKind, CommandStatus
    from acdc_tui.runs.journal.writer import JournalWriter

    point = dataclasses.replace(exp, settings=dataclasses.replace(exp.settings, threshold=threshold))
    new_run(point, threshold)
    writer = JournalWriter.create(path, journal_meta(point, Recipe(**recipe)))
    for action, edges in ((CommandKind.PIN, point.settings.pins), (CommandKind.FORCE_PRUNE, point.settings.force_prunes)):
        for text in edges:  # queued in the run already, as `acdc-tui run` records them
            writer.record_command(action, text, "cli", 1, CommandStatus.DONE)
    return _serve(point, writer)


def _experiment(recipe: dict, settings: dict) -> Experiment:
    """This worker's experiment for the recipe and settings (τ aside), built once."""
    key = orjson.dumps([recipe, {k: v for k, v in settings.items() if k != "threshold"}], option=orjson.OPT_SORT_KEYS)
    if key not in _EXPERIMENTS:
        import tasks
        from acdc_tui.models.backend import parse_dtype
        from acdc_tui.runs.experiment import prepare
        from acdc_tui.runs.identity import settings_from_meta

        task = tasks.load_task(recipe["task"], recipe["task_dir"], recipe["device"], parse_dtype(recipe["dtype"]), model_path=recipe["model_path"], prompts=recipe.get("prompts"), bos=recipe.get("bos"))
        _EXPERIMENTS[key] = prepare(task, settings_from_meta({"settings": settings}))
    return _EXPERIMENTS[key]


def _finished(path: Path, exp: Experiment) -> dict | None:
    """A finished point's summary from its journal (replayed, nothing evaluated); None if unfinished."""
    from acdc_tui.runs.journal.codec import EventDecoder
    from acdc_tui.runs.journal.reader import JournalReader
    from acdc_tui.runs.resume import replay_run

    reader = JournalReader(path)
    try:
        rows = [r for r in reader.events(run=1) if not r.superseded]
        elapsed = reader.status().get("elapsed", 0.0)
        threshold = reader.meta["settings"]["threshold"]
    finally:
        reader.close()
    if not rows or rows[-1].kind != "RunFinished" or not rows[-1].data["complete"]:
        return None
    decoder = EventDecoder(exp.graph)
    events = [decoder.event(r.kind, r.data) for r in rows]
    settings = dataclasses.replace(exp.settings, threshold=threshold)
    return _summary(replay_run(exp.graph, settings, events), elapsed)


def _resume(path: Path) -> dict:
    from acdc_tui.runs.journal.writer import JournalWriter
    from acdc_tui.runs.resume import open_resume

    job = open_resume(path)
    writer = JournalWriter.open(path)
    if job.superseded_pos is not None:
        writer.supersede(job.superseded_pos)
    return _serve(job.exp, writer, job.events, job.last_pos)


def _serve(exp: Experiment, writer, events: Sequence = (), resumed_at: int | None = None) -> dict:
    from acdc_tui.runs.outputs import Outputs
    from acdc_tui.runs.process import RunLoop

    writer.start_session(exp.settings.engine, resumed_at)
    writer.add_run(1, exp.settings.threshold)
    loop = RunLoop(exp, writer, events=events, autorun=True, outputs=Outputs())
    exit_note = "failed"
    try:
        loop.serve()
        exit_note = "finished" if loop.complete else "stopped"
    finally:
        writer.end_session(exit_note)
        writer.close()
    return _summary(exp.run, loop.busy)


def _summary(run, elapsed: float) -> dict:
    edges = sorted((edge_key(r.edge) for r in run.records.values() if r.present and r.edge.tested), key=lambda k: tuple(-1 if v is None else v for v in k))
    complete = run.finished and run.done == run.total
    return {"threshold": run.threshold, "edges_kept": run.kept(), "metric": run.current_metric, "complete": complete, "elapsed_s": elapsed, "edges": [list(k) for k in edges]}
