"""Helpers for tests: build experiments on real small models."""

from __future__ import annotations

import torch

import tasks
from acdc_tui.runs.experiment import Experiment, Settings, prepare


def experiment(task_name: str | None = None, task_dir=None, dtype=torch.float64, **settings) -> Experiment:
    task = tasks.load_task(task_name, None if task_dir is None else str(task_dir), "cpu", dtype)
    settings.setdefault("threshold", 0.01)
    return prepare(task, Settings(dtype=str(dtype).removeprefix("torch."), **settings))


def final_state(exp: Experiment) -> dict:
    """Edge key -> (present, delta, decided_by), to compare runs edge by edge."""
    return {k: (r.present, r.delta, r.decided_by) for k, r in exp.run.records.items()}


class LocalRun:
    """A run process's loop in a thread of the test process, writing a journal the way the real
    run process does; tests attach a RunClient (or the explorer) to `self.journal`."""

    def __init__(self, exp: Experiment, journal, autorun: bool = False, outputs=None, clock=None) -> None:
        import threading

        from acdc_tui.runs.identity import Recipe, journal_meta
        from acdc_tui.runs.journal.writer import JournalWriter
        from acdc_tui.runs.outputs import Outputs
        from acdc_tui.runs.process import RunLoop

        self.exp, self.journal = exp, journal
        recipe = Recipe.of(exp.task.name if exp.task.source == "builtin" else None, None, None, exp.settings.device, exp.settings.dtype)
        self.writer = JournalWriter.create(journal, journal_meta(exp, recipe))
        self.writer.start_session(exp.settings.engine)
        self.writer.add_run(1, exp.settings.threshold)
        self.loop = RunLoop(exp, self.writer, autorun=autorun, outputs=outputs or Outputs(), **({} if clock is None else {"clock": clock}))
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            self.loop.serve()
            self.writer.end_session("finished" if self.loop.complete else "stopped")
        except BaseException as e:  # surfaced by close()
            self.error = e
        finally:
            self.writer.close()

    def close(self, timeout: float = 30.0) -> None:
        from acdc_tui.runs.journal.reader import JournalReader
        from acdc_tui.runs.journal.schema import CommandKind

        if self.thread.is_alive():
            reader = JournalReader(self.journal)
            reader.send(CommandKind.STOP, None, "test")
            reader.send(CommandKind.QUIT, None, "test")
            reader.close()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the run loop did not stop"
        if self.error is not None:
            raise self.error


def attached_app(exp: Experiment, journal, runs: list, clock=None, **app_options):
    """The explorer attached to `exp`'s run loop (a LocalRun added to `runs`); `app.local` is the run."""
    from acdc_tui.runs.client import RunClient
    from acdc_tui.ui.app import ExplorerApp

    run = LocalRun(exp, journal, clock=clock)
    runs.append(run)
    app = ExplorerApp(client=RunClient(run.journal), **({"clock": clock} if clock else {}), **app_options)
    app.local = run
    return app


def run_offline(task_name: str, tmp_path) -> "subprocess.CompletedProcess[str]":
    """`acdc-tui run --task NAME` in a child process with the Hugging Face hub offline and an empty cache."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": str(tmp_path / "hf" / "hub")}
    code = "import sys; from acdc_tui.cli.main import main; sys.exit(main(['run', '--task', %r, '--threshold', '0.1', '--quiet', '--out', %r]))" % (task_name, str(tmp_path / "c.json"))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def head_input_hook(value: torch.Tensor, head: int = 0):
    """A hook that sets head `head`'s slice of a per-head activation ([batch, pos, head, ...]) to `value`."""

    def hook(x, hook):
        x = x.clone()
        x[:, :, head] = value
        return x

    return hook
