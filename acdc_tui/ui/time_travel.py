"""Time travel, branching and circuit diffs in the explorer (a mixin of ExplorerApp).

The client records what every replayed event changed (runs/timeline.py); a `Cursor` walks those
changes back and forth, and the views it yields go through `ExplorerState.apply` like a live update,
so every view (overview, tree, circuit, edges, details, status, log position) shows the state at
that event. The run goes on meanwhile: live batches still reach the log, and the display returns
to them with `L` (or by stepping past the last event). Nothing here evaluates anything.
"""

from __future__ import annotations

from pathlib import Path

from acdc_tui.core.graph import Edge
from acdc_tui.runs.driver import Batch, RunStatus
from acdc_tui.runs.timeline import Cursor

class TimeTravelMixin:
    """Expects the ExplorerApp attributes: client, state, cursor, position, generation, branch_pins, branch_prunes."""

    # ---- moving ----

    def _timeline_ready(self) -> bool:
        if not getattr(self, "_live_run", False) or self.state is None or not len(self.client.timeline):
            self.notify("Time travel needs a run's journal: nothing recorded yet.", severity="warning")
            return False
        return True

    def _index(self) -> int:
        return self.cursor.index if self.cursor is not None else self.position

    def travel_to(self, index: int) -> None:
        """Show the state right after the timeline's change `index` (-1: before the first event)."""
        timeline = self.client.timeline
        last = len(timeline) - 1
        if self.cursor is None:
            if index >= self.position:
                return
            self.cursor = Cursor(timeline, dict(self.state.edges), self.position)
        changed = self.cursor.move_to(min(index, last))
        if index >= last:  # past the last recorded event: the present again
            self._back_to_live(changed)
            return
        facts = self.cursor.facts
        status = RunStatus("past", facts.done, self.state.status.total, 0, facts.kept, facts.initial_metric, facts.current_metric,
                           facts.threshold, facts.current_node, 0.0, 0.0, None, facts.finished)
        changes = self.state.apply(Batch((), {k: self.cursor.views[k] for k in changed}, status))
        self._show_changes(changes, status, where=self._where())
        self.query_one("#log").show_event(self.cursor.seq)

    def _where(self) -> str:
        timeline = self.client.timeline
        last = timeline.changes[-1].event.seq if len(timeline) else 0
        overrides = len(self.branch_pins) + len(self.branch_prunes)
        marks = f", {overrides} override{'s' if overrides != 1 else ''} marked for a branch" if overrides else ""
        return f"@ event {self.cursor.seq} of {last}{marks} (L: live)"

    def _back_to_live(self, changed: set) -> None:
        timeline = self.client.timeline
        self.position = self.cursor.index
        views = {k: self.cursor.views[k] for k in changed}
        self.cursor = None
        self.branch_pins, self.branch_prunes = [], []
        status = getattr(self, "_live_status", None) or self.state.status
        changes = self.state.apply(Batch((), views, status, (), len(timeline) - 1, self.generation))
        self._show_changes(changes, status)
        self.query_one("#log").show_event(None)

    def action_travel_edge(self, direction: int) -> None:
        if not self._timeline_ready():
            return
        timeline = self.client.timeline
        here = self._index()
        target = timeline.previous_decision(here) if direction < 0 else timeline.next_decision(here)
        self.travel_to(target)

    def action_travel_node(self, direction: int) -> None:
        if not self._timeline_ready():
            return
        timeline = self.client.timeline
        here = self._index()
        target = timeline.previous_decision(here, node_level=True) if direction < 0 else timeline.next_decision(here, node_level=True)
        self.travel_to(target)

    def action_live(self) -> None:
        if self.cursor is not None:
            self.travel_to(len(self.client.timeline) - 1)

    def action_goto_event(self) -> None:
        if not self._timeline_ready():
            return
        from acdc_tui.ui.widgets.dialogs import Prompt

        timeline = self.client.timeline
        last = timeline.changes[-1].event.seq

        def check(text: str) -> str | None:
            return None if text.strip().isdigit() and int(text) <= last else f"give an event number from 0 to {last}"

        def done(value: str | None) -> None:
            if value is not None:
                self.travel_to(timeline.index_of_seq(int(value)))

        current = self.cursor.seq if self.cursor is not None else last
        self.push_screen(Prompt(f"Go to event (0 to {last}; the run goes on meanwhile)", str(current), check), done)

    def action_goto_decision(self) -> None:
        if not self._timeline_ready():
            return
        edge = self.selected if isinstance(self.selected, Edge) else None
        view = self.state.edges.get(edge.key) if edge is not None else None
        seq = view.seq if view is not None else None
        if seq is not None:
            self.travel_to(self.client.timeline.index_of_seq(seq))
            return
        index = self.client.timeline.decided_at(edge.key) if edge is not None else None  # in the past: decided later?
        if index is None:
            self.notify("Select an edge that has been decided (side bar → or the Edges tab).", severity="warning")
            return
        self.travel_to(index)

    # ---- branching ----

    def mark_for_branch(self, edge: Edge, action: str) -> None:
        """In the past, p / x mark overrides for the next branch instead of changing the run."""
        text = f"{edge.sender}->{edge.receiver}"
        for marks in (self.branch_pins, self.branch_prunes):
            if text in marks:
                marks.remove(text)
        if action == "pin":
            self.branch_pins.append(text)
        elif action == "force_prune":
            self.branch_prunes.append(text)
        self.notify(f"{'cleared' if action == 'clear_override' else action.replace('_', '-')} {edge.sender.label} -> {edge.receiver.label} for the branch; press b to branch from event {self.cursor.seq}")
        self._show_changes(None, self.state.status, where=self._where())

    def action_branch(self) -> None:
        if not self._timeline_ready():
            return
        from acdc_tui.ui.widgets.dialogs import Prompt

        step = self.cursor.seq if self.cursor is not None else self.client.timeline.changes[-1].event.seq
        tau = self.state.status.threshold

        def check(text: str) -> str | None:
            if not text.strip():
                return None
            try:
                value = float(text)
            except ValueError:
                return f"{text!r} is not a number, e.g. 0.01 (empty: keep τ {tau:g})"
            return None if value == value and abs(value) != float("inf") else "τ must be a finite number"

        def done(value: str | None) -> None:
            if value is not None:
                self._start_branch(step, float(value) if value.strip() else None)

        marks = f"; with {len(self.branch_pins)} pin(s) and {len(self.branch_prunes)} force-prune(s) marked with p / x" if self.branch_pins or self.branch_prunes else ""
        self.push_screen(Prompt(f"Branch from event {step}: τ from there on", f"{tau:g}", check, f"A new run, journal of its own; the first {step} events are replayed, not re-evaluated{marks}."), done)

    def _start_branch(self, step: int, threshold: float | None) -> None:
        from acdc_tui.runs.launch import Launch, spawn
        from acdc_tui.runs.paths import new_journal_path

        parent = self.client.journal
        task = self.client.meta.get("task", {}).get("name", "run")
        journal = new_journal_path(f"{task}-branch", threshold if threshold is not None else self.state.status.threshold, parent.parent)
        process, output = spawn(Launch.branch(parent, step, journal, threshold, self.branch_pins, self.branch_prunes))
        self.notify(f"branch of event {step} started (pid {process.pid}): {journal.name}; it starts paused")
        self.switch_to(journal, process, output)

    def action_branches(self) -> None:
        if not getattr(self, "_live_run", False):
            self.notify("Branches belong to a run's journal: attach to one.", severity="warning")
            return
        from acdc_tui.runs.branch import family_of
        from acdc_tui.ui.widgets.dialogs import Choose

        family = family_of(self.client.journal)
        here = self.client.journal.resolve()
        choices = [(str(path), f"{'  ' * depth}{'▶ ' if path.resolve() == here else ''}{label}") for path, depth, label in family]
        start = next((i for i, (path, _, _) in enumerate(family) if path.resolve() == here), 0)

        def done(choice: str | None) -> None:
            if choice is None:
                return
            if Path(choice).resolve() == here:  # the run shown: say so, and show its present
                self.action_live()
                self.notify(f"{self.client.journal.name} is the run shown (▶); pick another to switch to it")
            else:
                self.switch_to(Path(choice))

        self.push_screen(Choose("This run (▶) and its branches (enter: switch to it)", choices, start), done)

    # ---- diff ----

    def action_diff(self) -> None:
        if not getattr(self, "_live_run", False):
            self.notify("Diff compares a run's journal with another circuit: attach to a run.", severity="warning")
            return
        from acdc_tui.ui.widgets.dialogs import Prompt

        parent = self.client.meta.get("parent") or {}
        default = parent.get("journal") or ""

        def check(text: str) -> str | None:
            path = text.strip().rpartition("@")[0] if "@" in text else text.strip()
            return None if path and Path(path).exists() else "give a circuit file or a journal (JOURNAL@STEP for a past state)"

        def done(value: str | None) -> None:
            if value is not None:
                self._show_diff(value.strip())

        self.push_screen(Prompt("Compare this run's circuit (as shown) with", default, check, "A circuit file (JSON, EAP-IG JSON, .pth) or a journal, JOURNAL@STEP for a past state."), done)

    def _show_diff(self, other: str) -> None:
        from acdc_tui.core.errors import UserError
        from acdc_tui.io.diff import diff_circuits, format_diff  # the same text as `acdc-tui diff`
        from acdc_tui.runs.sources import load_any
        from acdc_tui.ui.widgets.dialogs import TextScreen

        here = f"{self.client.journal}@{self.cursor.seq}" if self.cursor is not None else str(self.client.journal)
        try:
            a, b = load_any(here), load_any(other)
            result = diff_circuits(a.circuit, b.circuit, f"A ({here})", f"B ({other})")
        except UserError as e:
            self.notify(str(e), severity="error")
            return
        self.push_screen(TextScreen(f"A: {here}\nB: {other}\n" + format_diff(result, changes_only=True)))


def past_override(app, action: str) -> bool:
    """p / x / c in the past mark a branch's overrides; True when handled."""
    if app.cursor is None:
        return False
    edge = app._selected_edge()
    if edge is not None:
        app.mark_for_branch(edge, action)
    return True

