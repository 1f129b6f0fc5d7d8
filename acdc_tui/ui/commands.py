"""The explorer's commands to its run and its views (a mixin of ExplorerApp): run, pause, step, pin,
prune, τ, tabs, help, quit, resume. Commands go to the run process through the client; what the
app reads of the run is its status snapshot (`state.status`), never the follower's live run."""

from __future__ import annotations

import math

from textual.widgets import TabbedContent

from acdc_tui.core.graph import Edge
from acdc_tui.runs.driver import ENDED, FINISHED
from acdc_tui.ui.actions import help_text
from acdc_tui.ui.time_travel import past_override
from acdc_tui.ui.widgets.decision_log import DecisionLog
from acdc_tui.ui.widgets.dialogs import ConfirmQuit, HelpScreen, Prompt


class RunCommandsMixin:
    """Expects the ExplorerApp attributes: client, circuit, state, selected, load_error, _live_run."""

    def _live(self) -> bool:
        if not self._live_run:
            self.notify("No run here: " + ("browsing a file; run its task to change edges" if self.circuit else "the task is still loading" if self.load_error is None else self.load_error), severity="warning")
            return False
        if not self.client.alive:
            self.notify(f"The run process has ended ({self.state.status.mode if self.state else '?'}): resume it with `acdc-tui resume {self.client.journal}`, or press R.", severity="warning")
            return False
        return True

    def _selected_edge(self) -> Edge | None:
        if not isinstance(self.selected, Edge):
            self.notify("Select an edge first: expand a hook point in the side bar (→) or pick a row in the Edges tab (2).", severity="warning")
            return None
        if not self.selected.tested:
            self.notify(f"{self.selected.sender.label} → {self.selected.receiver.label} is structural: ACDC never tests or removes it.", severity="warning")
            return None
        return self.selected

    def action_toggle_run(self) -> None:
        if self._live():
            self.client.toggle()

    def action_step_edge(self) -> None:
        if self._live():
            self.client.step_edge()

    def action_step_node(self) -> None:
        if self._live():
            self.client.step_node()

    def _override(self, what: str) -> None:
        if past_override(self, {"clear_override": "clear_override"}.get(what, what)):
            return
        if self._live() and (edge := self._selected_edge()) is not None:
            getattr(self.client, what)(edge)

    def action_pin(self) -> None:
        self._override("pin")

    def action_force_prune(self) -> None:
        self._override("force_prune")

    def action_clear_override(self) -> None:
        self._override("clear_override")

    def action_threshold(self) -> None:
        if not self._live():
            return

        def check(text: str) -> str | None:
            try:
                v = float(text)
            except ValueError:
                return f"{text!r} is not a number, e.g. 0.01"
            return None if math.isfinite(v) else "τ must be a finite number"

        def done(value: str | None) -> None:
            if value is not None:
                self.client.set_threshold(float(value))

        self.push_screen(Prompt("New threshold τ for the rest of the run", f"{self.state.status.threshold:g}", check, "Edges already decided keep their decisions."), done)

    def action_tab(self, name: str) -> None:
        """Show a tab and put the keyboard in it."""
        if self.query("#tabs"):
            self.query_one("#tabs", TabbedContent).active = f"tab-{name}"
            target = {"overview": "#overview", "circuit": "#dag", "edges": "#edge-data", "details": "#details"}[name]
            self.query_one(target).focus()

    def action_toggle_sidebar(self) -> None:
        if self.query("#sidebar"):
            self.query_one("#sidebar").toggle_class("hidden")

    def action_help(self) -> None:
        self.push_screen(HelpScreen(help_text()))

    def run_in_progress(self) -> bool:
        return self._live_run and self.client.alive and self.state.status.mode not in ENDED

    def action_quit_app(self) -> None:
        if not self.run_in_progress():
            if self._live_run:
                self.client.release()
            self.exit()
            return
        done, total = self.state.status.done, self.state.status.total

        def chosen(choice: str | None) -> None:
            if choice == "stop":
                self.client.stop()
                self.exit()
            elif choice == "leave":  # as it is: a paused run stays paused
                self.left_running = self.state.status.mode if self.state and self.state.status else "running"
                self.exit()
            elif choice == "save":
                self.save_and_stop()

        paused = self.state.status.mode == "paused"
        question = (
            f"The run is {'paused' if paused else 'in progress'} ({done}/{total} edges decided). It lives in its own process: "
            f"leave it {'paused' if paused else 'running'} in the background (acdc-tui attach reconnects), or stop it?"
        )
        self.push_screen(ConfirmQuit(question), chosen)

    def action_resume(self) -> None:
        """Start a new run process on this journal's run (after a crash or a stop)."""
        if not self._live_run or self.client.alive or self.state.status.mode == FINISHED:
            self.notify("Nothing to resume: " + ("the run is still going" if self._live_run and self.client.alive else "the run finished" if self._live_run else "no run here"), severity="warning")
            return
        from acdc_tui.runs.launch import Launch, spawn

        process, output = spawn(Launch.resume(self.client.journal, paused=True))
        self.client.process, self.client.output = process, output
        self.query_one("#log", DecisionLog).add_note(f"resuming {self.client.journal} in a new run process (pid {process.pid}); it starts paused")
