"""The run process's loop: step an ACDC run, record every event in the journal, take commands from it.

Whoever starts a run (the headless `acdc-tui run`, the explorer, `resume`) ends up here. The loop is
the only writer of its journal; clients (the explorer, `attach`) read the journal and insert commands,
which the loop applies between steps. It never touches a terminal itself: sinks do (the headless log
and progress), and it never imports the UI.
"""

from __future__ import annotations

import time
from typing import Callable, Protocol, Sequence

from acdc_tui.core.algorithm import AcdcRun, ends_edge_step, ends_node_step
from acdc_tui.core.errors import UserError
from acdc_tui.core.events import EdgeForced, EdgesPrefiltered, EdgeTested, Event, NodeSkipped, RunFinished
from acdc_tui.core.graph import Edge, parse_edge
from acdc_tui.runs.driver import RunMode
from acdc_tui.runs.experiment import Experiment, to_circuit
from acdc_tui.runs.journal.codec import EventDecoder
from acdc_tui.runs.journal.schema import CommandKind, CommandStatus
from acdc_tui.runs.journal.writer import JournalWriter
from acdc_tui.runs.outputs import Outputs, write_outputs
from acdc_tui.runs.progress import LayerCosts, Progress, decided_keys
from acdc_tui.runs.resume import rebuild_run

POLL_S = 0.05  # how often a running loop looks for commands
IDLE_POLL_S = 0.1  # ... a paused or finished one
CLIENT_GRACE_S = 5.0  # a finished run waits this long after its last client left


Mode = RunMode  # the run loop's modes: PAUSED, RUNNING, STEPPING, FINISHED, STOPPED of the one RunMode


ACTIVE = (Mode.RUNNING, Mode.STEPPING)


class EventSink(Protocol):
    """Something that shows the run as it goes (the headless log, progress)."""

    def on_event(self, event: Event, run: AcdcRun) -> None: ...

    def on_note(self, text: str) -> None: ...


class StepError(Exception):
    """Evaluating failed (out of memory, say) with no client attached: the run stopped, its partial
    circuit is written, and the journal can resume it."""


class RunLoop:
    def __init__(
        self,
        exp: Experiment,
        writer: JournalWriter,
        *,
        run_id: int = 1,
        events: Sequence[Event] = (),
        sinks: Sequence[EventSink] = (),
        autorun: bool = True,
        outputs: Outputs | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.exp, self.run, self.writer, self.run_id = exp, exp.run, writer, run_id
        self.events: list[Event] = list(events)  # this run's events so far (a resume starts with the replayed ones)
        self.sinks, self.outputs, self.clock = list(sinks), outputs or Outputs(), clock
        self.mode = Mode.RUNNING if autorun else Mode.PAUSED
        self.decoder = EventDecoder(exp.graph)
        self.busy = 0.0  # seconds spent stepping: pauses do not spoil the rate and the ETA
        self.progress = Progress(self.run.total, clock=lambda: self.busy, costs=LayerCosts.of_graph(exp.graph, decided_keys(self.run)))
        self.progress.done = self.run.done
        self._stop_when: Callable[[Event, int], bool] | None = None
        self._n_in_step = 0
        self._steps_left = 0
        self._next_poll = 0.0
        self._finalized = False
        self._quit = False
        self.complete = False
        writer.status_provider = self.status

    # ---- status ----

    def status(self) -> dict:
        run, progress = self.run, self.progress
        node = run.current_node
        return {
            "pid": _pid(),
            "run": self.run_id,
            "mode": self.mode.value,
            "done": run.done,
            "total": run.total,
            "tested": progress.tested,
            "kept": run.kept(),
            "initial_metric": run.initial_metric,
            "metric": run.current_metric,
            "threshold": run.threshold,
            "current_node": None if node is None else [node.name, node.head],
            "elapsed": round(self.busy, 3),
            "rate": progress.rate,
            "eta": progress.eta,  # the per-layer cost model's (runs/progress.py)
            "eta_layers": progress.costs.snapshot() if progress.costs is not None else None,
            "complete": self.complete,
            "updated": time.time(),
        }

    def _set_mode(self, mode: Mode) -> None:
        if mode is not self.mode:
            self.mode = mode
            self.writer.set_status(self.status(), now=True)

    # ---- the loop ----

    def serve(self) -> Mode:
        """Run until the run finishes (and no client is attached) or is stopped; returns how it ended.

        Ctrl-C and the signals the CLI turns into KeyboardInterrupt stop the run the same way: the
        edge under test is restored (the algorithm rolls it back), the journal committed, the
        partial circuit written; then the interrupt goes on to the caller.
        """
        self.writer.set_status(self.status(), now=True)
        try:
            while True:
                self._poll_commands()
                if self.mode is Mode.STOPPED:
                    self._finalize()
                    break
                if self._quit:
                    break
                if self.mode in ACTIVE and not self.run.finished:
                    error = self._step()
                    if error is not None and not self._client_attached():
                        self.stop_now(source="error")
                        raise StepError(error)
                    continue
                if self.run.finished:
                    self._finalize()
                    if not self._client_attached():
                        break
                time.sleep(IDLE_POLL_S)
        except KeyboardInterrupt:
            self.stop_now()
            raise
        return self.mode

    def stop_now(self, source: str = "signal") -> None:
        """Stop at once (a signal, possibly in the middle of an evaluation, which the algorithm rolled
        back): record it, write the partial outputs, commit. Idempotent."""
        if self.mode is Mode.STOPPED and self._finalized:
            return
        if not self.run.finished:
            self.writer.record_command(CommandKind.STOP, None, source, self.run_id, CommandStatus.DONE)
        self.mode = Mode.STOPPED
        self._finalize()

    def _step(self) -> str | None:
        """One step; on an evaluation error, the error's line (the run is rebuilt and paused)."""
        start = self.clock()
        try:
            event = self.run.step()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:
            return self._recover(e)
        finally:
            self.busy += self.clock() - start
        self._record([event])
        self._n_in_step += 1
        if isinstance(event, RunFinished):
            self.complete = event.complete
            self._set_mode(Mode.FINISHED if event.complete else Mode.STOPPED)
        elif self.mode is Mode.STEPPING and self._stop_when is not None and self._stop_when(event, self._n_in_step):
            self._steps_left -= 1
            self._n_in_step = 0
            if self._steps_left <= 0:
                self._stop_when = None
                self._set_mode(Mode.PAUSED)
        return None

    def _recover(self, error: Exception) -> str:
        """The algorithm restored the edge under test, but its step generator died with the
        exception: rebuild the run from its events (no evaluation) and pause."""
        self.run = self.exp.run = rebuild_run(self.exp.graph, self.exp.settings, self.events, self.run.engine, prefiltered=self.exp.prefiltered)
        self._set_mode(Mode.PAUSED)
        message = _one_line(error)
        self._note(f"error: {message}; the run is paused and its decisions are kept")
        return message

    def _record(self, events: list[Event], command_id: int | None = None) -> None:
        for event in events:
            self.events.append(event)
            self.writer.append(self.run_id, event, command_id)
            self.progress.on_event(event)
            for sink in self.sinks:
                sink.on_event(event, self.run)

    def _note(self, text: str) -> None:
        for sink in self.sinks:
            sink.on_note(text)

    # ---- commands ----

    def _poll_commands(self) -> None:
        now = time.monotonic()  # not self.clock: that one only measures stepping time (tests freeze it)
        if now < self._next_poll:
            return
        self._next_poll = now + (POLL_S if self.mode in ACTIVE else 0.0)
        for command_id, action, arg, source in self.writer.pending_commands():
            try:
                result, seq = self.apply(action, arg, command_id)
            except UserError as e:
                self.writer.finish_command(command_id, CommandStatus.FAILED, str(e))
                self._note(f"error: {e}")
            else:
                self.writer.finish_command(command_id, CommandStatus.DONE, result, seq)
                if result:
                    self._note(result)

    def apply(self, action: CommandKind, arg, command_id: int | None = None) -> tuple[str | None, int | None]:
        """Apply one command; returns a line for the user and the event it produced, if any."""
        run = self.run
        if action is CommandKind.PLAY and not run.finished:
            self._stop_when = None
            self._set_mode(Mode.RUNNING)
        elif action is CommandKind.PAUSE and not run.finished:
            self._stop_when = None
            self._set_mode(Mode.PAUSED)
        elif action in (CommandKind.STEP_EDGE, CommandKind.STEP_NODE) and not run.finished:
            until = ends_edge_step if action is CommandKind.STEP_EDGE else ends_node_step
            if self.mode is Mode.STEPPING and self._stop_when is until:
                self._steps_left += 1  # a second key press before the first step ended: one more step
            else:
                self._stop_when, self._n_in_step, self._steps_left = until, 0, 1
            self._set_mode(Mode.STEPPING)
        elif action in (CommandKind.PIN, CommandKind.FORCE_PRUNE, CommandKind.CLEAR):
            edge = parse_edge(arg, self.exp.graph) if isinstance(arg, str) else self.decoder.edge(arg)
            return self._override(action, edge, command_id)
        elif action is CommandKind.THRESHOLD:
            return self._threshold(arg, command_id)
        elif action is CommandKind.EXPORT:
            return self._export(arg), None
        elif action is CommandKind.STOP:
            if run.finished:
                self._quit = True
                return None, None
            run.stop()  # the next step ends the run (RunFinished, incomplete): outputs written, process exits
            self._set_mode(Mode.RUNNING)
            return "stopping: the decisions so far are saved", None
        elif action is CommandKind.QUIT and run.finished:
            self._quit = True
        return None, None

    def _override(self, action: CommandKind, edge: Edge, command_id: int | None) -> tuple[str, int | None]:
        if not edge.tested:
            raise UserError(f"{edge} is a placeholder edge: ACDC never tests or removes it, so it cannot be pinned or pruned")
        {CommandKind.PIN: self.run.pin, CommandKind.FORCE_PRUNE: self.run.force_prune, CommandKind.CLEAR: self.run.clear_override}[action](edge)
        try:
            events = self.run.apply_commands()
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as e:
            raise UserError(f"the override could not be applied: {self._recover(e)}") from None
        self._record(events, command_id)
        self._refresh_outputs()
        verb = {CommandKind.PIN: "pinned", CommandKind.FORCE_PRUNE: "force-pruned", CommandKind.CLEAR: "cleared the override of"}[action]
        return f"{verb} {edge.sender.label} -> {edge.receiver.label}", events[-1].seq if events else None

    def _threshold(self, value, command_id: int | None) -> tuple[str, int]:
        import math

        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise UserError(f"threshold {value!r} is not a finite number")
        self.run.set_threshold(float(value))
        events = self.run.apply_commands()
        self._record(events, command_id)
        return f"threshold set to {float(value):g} for the rest of the run", events[-1].seq

    def _export(self, arg) -> str:
        from pathlib import Path

        from acdc_tui.runs.outputs import check_writable

        if not isinstance(arg, dict) or not isinstance(arg.get("path"), str):
            raise UserError("export needs a path")
        out = Path(arg["path"])
        dot = Path(arg["dot"]) if isinstance(arg.get("dot"), str) else None
        for path in (out, dot):
            check_writable(path)
        circuit = to_circuit(self.exp, self.busy, self.complete)
        write_outputs(circuit, Outputs(out, dot), self.writer.path)
        also = f" and {dot}" if dot else ""
        state = "complete" if circuit.complete else "partial: the run has not finished"
        return f"exported {circuit.summary['edges_kept']} kept edges to {out}{also} ({state})"

    # ---- the end ----

    def _finalize(self) -> None:
        """Write the circuit outputs once the run has finished or stopped."""
        if self._finalized:
            return
        self._finalized = True
        self.writer.set_status(self.status(), now=True)
        if self.outputs.out is None and self.outputs.dot is None:
            return
        complete = self.mode is Mode.FINISHED and self.complete
        circuit = to_circuit(self.exp, self.busy, complete)
        metrics = circuit.metrics
        self.writer.set_meta("metrics", {"full": metrics.get("full"), "empty": metrics.get("empty")})
        self.circuit = circuit
        write_outputs(circuit, self.outputs, self.writer.path)

    def _refresh_outputs(self) -> None:
        """An override after the end changes the circuit: write the outputs again."""
        if self._finalized:
            self._finalized = False
            self._finalize()

    def _client_attached(self) -> bool:
        if self._quit:
            return False
        return time.time() - self.writer.client_seen() < CLIENT_GRACE_S


def _pid() -> int:
    import os

    return os.getpid()


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if "out of memory" in text.lower():
        return "out of memory: use fewer or shorter examples, or a bigger device"
    return text


