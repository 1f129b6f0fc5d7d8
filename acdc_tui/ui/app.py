"""The explorer app: VS Code's layout in a terminal, a client of a run process.

The app owns no ACDC logic and runs no model. The run lives in its own process and records every
event in its journal; a `RunClient` follows the journal in a Textual thread worker (replaying it)
and posts `Batch` snapshots as messages; the app applies them to an `ExplorerState` and redraws.
Keys become commands the client writes to the journal. Widgets are only touched on the app's thread.
"""

from __future__ import annotations

import dataclasses
import gc
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Footer, Sparkline, Static, TabbedContent, TabPane, Tree
from textual.worker import get_current_worker

from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import ComputationalGraph, Edge, Node
from acdc_tui.io.circuit import Circuit, write_circuit
from acdc_tui.io.dot import to_dot
from acdc_tui.runs.client import RunClient
from acdc_tui.runs.driver import Batch
from acdc_tui.ui.state import ExplorerState
from acdc_tui.ui.time_travel import TIME_ACTIONS, TimeTravelMixin, past_override
from acdc_tui.ui.widgets.bars import StatusBar, TitleBar, status_text
from acdc_tui.ui.widgets.circuit_view import CircuitView
from acdc_tui.ui.widgets.decision_log import DecisionLog
from acdc_tui.ui.widgets.details import Details
from acdc_tui.ui.widgets.dialogs import ConfirmQuit, HelpScreen, Prompt
from acdc_tui.ui.widgets.edge_table import EdgeChosen, EdgeTable
from acdc_tui.ui.widgets.hook_tree import HookTree
from acdc_tui.ui.widgets.overview import NodeChosen, Overview

DAG_REDRAW_S = 0.25


@dataclass(frozen=True)
class Action:
    key: str
    name: str  # the app's action_<name>
    title: str
    help: str
    footer: bool = True


ACTIONS = [
    Action("space", "toggle_run", "Run/Pause", "start the run, or pause it after the current edge"),
    Action("n", "step_edge", "Step", "decide one more edge, then pause"),
    Action("N", "step_node", "Step node", "decide the rest of this receiver's edges, stop at the next receiver"),
    Action("p", "pin", "Pin", "pin the selected edge: ACDC never removes it (applied now if already decided)"),
    Action("x", "force_prune", "Prune", "force-prune the selected edge: removed without a threshold test"),
    Action("c", "clear_override", "Clear", "clear the selected edge's pin or force-prune", footer=False),
    Action("t", "threshold", "τ", "change the threshold τ for the rest of the run"),
    Action("e", "export", "Export", "write the circuit JSON (and DOT beside it)"),
    Action("0", "tab('overview')", "Overview", "show the Overview tab (the model's heads and MLPs as a grid)", footer=False),
    Action("1", "tab('circuit')", "Circuit", "show the Circuit tab (the DAG)", footer=False),
    Action("2", "tab('edges')", "Edges", "show the Edges tab (sortable, filterable table)", footer=False),
    Action("3", "tab('details')", "Details", "show the Details tab (the selection and its history)", footer=False),
    Action("slash", "filter", "Filter", "filter the Edges tab: words that must all match, e.g. 'a1.0 removed'", footer=False),
    Action("ctrl+b", "toggle_sidebar", "Side bar", "show or hide the hook-point tree", footer=False),
    Action("f1", "help", "Help", "list every key"),
    Action("R", "resume", "Resume", "resume a stopped or crashed run in a new run process", footer=False),
    *[Action(key, name, title, help, footer=False) for key, name, title, help in TIME_ACTIONS],
    Action("q", "quit_app", "Quit", "quit (asks first while a run is in progress: leave it running, or stop it)"),
]


class RunUpdate(Message):
    def __init__(self, batch: Batch) -> None:
        super().__init__()
        self.batch = batch


class Loaded(Message):
    def __init__(self, error: str | None = None) -> None:
        super().__init__()
        self.error = error


def help_text() -> str:
    lines = ["[b]acdc-tui keys[/b]", ""]
    lines += [f"  [b]{a.key:>7}[/b]  {a.help}" for a in ACTIONS]
    lines += [
        "",
        "  [b]    tab[/b]  move focus: side bar, tabs, table, log",
        "  [b] arrows[/b]  move in the tree / table; scroll the DAG and the log",
        "  [b]  right[/b]  expand a tree branch (hook points list their edges)",
        "  [b]      /[/b]  filter the Edges tab;  [b]s[/b] / [b]S[/b] sort by the next column / reverse",
        "  [b] ctrl+p[/b]  command palette: every action by name",
        "",
        "Node marks: · pending  ▶ current  ● alive  ✗ dead  (Overview: ◆ an in-edge pinned or forced);",
        "counts are kept/removed/total tested in-edges.",
    ]
    return "\n".join(lines)


class ExplorerApp(TimeTravelMixin, App):
    TITLE = "acdc-tui"
    CSS = """
    #loading { height: 1fr; content-align: center middle; color: $text-muted; }
    #main { height: 1fr; }
    #sidebar { width: 30%; max-width: 36; min-width: 22; border-right: vkey $panel-lighten-2; }
    #sidebar.hidden { display: none; }
    #editor { width: 1fr; }
    #tabs { height: 1fr; }
    #tabs TabPane { padding: 0; }
    #panel { height: 9; border-top: hkey $panel-lighten-2; }
    #spark-row { height: 1; }
    #spark-label { width: auto; color: $text-muted; padding: 0 1; }
    #spark { height: 1; width: 1fr; }
    #log { height: 1fr; }
    """
    BINDINGS = [Binding(a.key, a.name, a.title, show=a.footer) for a in ACTIONS]

    def __init__(
        self,
        *,
        client: RunClient | None = None,
        circuit: Circuit | None = None,
        circuit_graph: ComputationalGraph | None = None,
        out: Path = Path("acdc-output/circuit.json"),
        description: str = "",
        ascii_only: bool | None = None,
        autorun: bool = False,
        clock: Callable[[], float] = time.monotonic,
        scores: Path | None = None,
    ) -> None:
        super().__init__()
        self.client, self.circuit, self.circuit_graph = client, circuit, circuit_graph
        self.scores_path = scores  # attribution scores (acdc-tui attribute --out) shown beside Δ
        self.out = Path(out)
        self.description = description
        self.ascii_only = ascii_only if ascii_only is not None else not (sys.stdout.encoding or "").lower().startswith("utf")
        self.autorun, self.clock = autorun, clock
        self.state: ExplorerState | None = None
        self.selected: Node | Edge | None = None
        self.load_error: str | None = None
        self.left_running = False  # quit with the run left going in the background
        self._live_run = False
        # time travel (ui/time_travel.py): a cursor while showing the past; the timeline index and
        # replay generation the shown state is at; overrides marked in the past for a branch
        self.cursor = None
        self.position, self.generation = -1, 0
        self.branch_pins: list[str] = []
        self.branch_prunes: list[str] = []
        self._quit_after_export = False

    # ---- layout ----

    def compose(self) -> ComposeResult:
        yield TitleBar(self.description or "acdc-tui", id="title")
        yield Static(f"Loading {self.description or 'the task'} …  (TransformerLens takes a few seconds to import)", id="loading")
        yield StatusBar(status_text(None, "loading"), id="status")
        yield Footer()

    async def on_mount(self) -> None:
        if self.circuit is not None:
            await self._browse(self.circuit, self.circuit_graph)
        elif self.client is not None:
            self._connect()

    async def _show_main(self, state: ExplorerState, title: str) -> None:
        gc.freeze()  # the graph, model and edge states (~10^6 objects at GPT-2 scale) never die: keep full collections (0.5 s each) off them
        self.state = state
        self.query_one("#title", TitleBar).update(title)
        await self.query_one("#loading").remove()
        tree = HookTree(state, "model", ascii_only=self.ascii_only, id="sidebar")
        tabs = TabbedContent(id="tabs")
        panel = Vertical(Horizontal(Static("metric", id="spark-label"), Sparkline([], id="spark"), id="spark-row"), DecisionLog(id="log"), id="panel")
        editor = Vertical(tabs, panel, id="editor")
        await self.mount(Horizontal(tree, editor, id="main"), before=self.query_one("#status"))
        await tabs.add_pane(TabPane("Overview", Overview(state, self.ascii_only, id="overview"), id="tab-overview"))
        await tabs.add_pane(TabPane("Circuit", CircuitView(state, self.ascii_only, id="dag"), id="tab-circuit"))
        await tabs.add_pane(TabPane("Edges", EdgeTable(state, id="edges"), id="tab-edges"))
        await tabs.add_pane(TabPane("Details", Details(state, id="details"), id="tab-details"))
        self.query_one("#overview").focus()
        self.set_interval(DAG_REDRAW_S, self._redraw_dag)
        if self.scores_path is not None:
            self._load_scores()

    @work(thread=True, group="load", exit_on_error=False)
    def _connect(self) -> None:
        """Wait for the run process to write its journal (it loads the model first), then replay it."""
        worker = get_current_worker()
        try:
            self.client.wait_ready(lambda: worker.is_cancelled)
        except UserError as e:
            self.post_message(Loaded(str(e)))
            return
        except Exception as e:  # never a traceback in the user's terminal
            self.post_message(Loaded(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"))
            return
        if not worker.is_cancelled:
            self.post_message(Loaded())

    async def on_loaded(self, message: Loaded) -> None:
        if message.error:
            self.load_error = message.error
            self.query_one("#loading", Static).update(f"[b red]error:[/] {message.error}\n\npress q to quit")
            self.query_one("#status", StatusBar).update(status_text(None, "error"))
            return
        await self._start()

    # ---- a live run ----

    async def _start(self) -> None:
        client = self.client
        await self._show_main(ExplorerState(client.graph, client.views(), client.status()), self._title())
        self._live_run = True
        self._follow()
        log = self.query_one("#log", DecisionLog)
        log.add_note(
            f"Attached to {client.journal.name}: {client.run.total} edges to decide. space runs or pauses, n steps one edge, N steps to the next receiver; "
            "select an edge (side bar → or the Edges tab) to pin (p) or prune (x) it; F1 lists every key."
        )
        if self.autorun and client.alive and not client.run.finished:
            client.play()

    def _title(self) -> str:
        meta, sep = self.client.meta, " | " if self.ascii_only else " │ "
        c, s = meta.get("model", {}).get("config", {}), meta.get("settings", {})
        shape = f"{c.get('n_layers')}L {c.get('n_heads')}H d{c.get('d_model')}{' attn-only' if c.get('attn_only') else ''}"
        ablation = "zero" if s.get("zero_ablation") else "mean" if s.get("mean_ablation") else "corrupted"
        task = meta.get("task", {})
        return sep.join([" acdc-tui", str(task.get("name")), shape, f"τ {self.client.run.threshold:g}", f"metric {task.get('metric')}", f"{ablation} ablation", f"{s.get('device')} {s.get('dtype')}", f"engine {s.get('engine')}"])

    @work(thread=True, group="run", exit_on_error=False)
    def _follow(self) -> None:
        worker = get_current_worker()
        self.client.follow(lambda batch: self.post_message(RunUpdate(batch)), lambda: worker.is_cancelled)

    def on_run_update(self, message: RunUpdate) -> None:
        if not self.query("#main"):  # a late batch while the app closes or switches runs
            return
        batch = message.batch
        log = self.query_one("#log", DecisionLog)
        log.add_events(batch.events)
        for note in batch.notes:
            log.add_note(note)
            self.notify(note, severity="error" if note.startswith("error") else "information")
            if self._quit_after_export:
                self._quit_after_export = False
                if note.startswith("exported"):
                    self.client.stop()
                    self.exit()
        self._live_status = batch.status
        if self.cursor is not None:  # showing the past: the run goes on, its events are recorded, the view stays
            self.state.apply(dataclasses.replace(batch, edges={}, status=self.state.status))
            self._show_changes(None, self.state.status, where=self._where())
            return
        if batch.generation != self.generation:  # the client replayed from scratch (a resumed early stop)
            self.generation, self.position = batch.generation, batch.position
        elif batch.position < self.position:  # older than what is shown (just back from the past)
            batch = dataclasses.replace(batch, edges={})
        else:
            self.position = batch.position
        self._show_changes(self.state.apply(batch), batch.status)

    def _show_changes(self, changes, status, where: str = "") -> None:
        """Redraw what a change of the shown state touched (a live batch, or a move in time)."""
        self.query_one("#status", StatusBar).update(status_text(status, ascii_only=self.ascii_only, where=where))
        if changes is None:
            return
        self.query_one("#sidebar", HookTree).refresh_items(changes.nodes, changes.edges)
        self.query_one("#edges", EdgeTable).update_edges(changes.edges)
        self.query_one("#overview", Overview).changed()
        self.query_one("#spark", Sparkline).data = self.state.metric_series[-2000:]
        if self.client is not None:
            self.query_one("#title", TitleBar).update(self._title())
        if changes.edges or changes.nodes:
            self.query_one("#dag", CircuitView).changed()
        if self.selected is not None:
            self.query_one("#details", Details).refresh_body()

    def switch_to(self, journal: Path, process=None, output=None) -> None:
        """Follow another run's journal (a branch, a parent) in this window."""
        self.run_worker(self._switch(journal, process, output), exclusive=True, group="switch")

    async def _switch(self, journal: Path, process, output) -> None:
        self.workers.cancel_group(self, "run")
        self.client.close()
        self.client = RunClient(journal, process, output)
        self._live_run, self.cursor, self.position, self.generation = False, None, -1, 0
        self.branch_pins, self.branch_prunes = [], []
        self.selected = None
        if self.query("#main"):
            await self.query_one("#main").remove()
        await self.mount(Static(f"Loading {journal.name} …", id="loading"), before=self.query_one("#status"))
        self._connect()

    # ---- browsing a file ----

    async def _browse(self, circuit: Circuit, graph: ComputationalGraph) -> None:
        state = ExplorerState.from_circuit(graph, circuit)
        sep = " | " if self.ascii_only else " │ "
        cfg = circuit.model.get("config", {})
        title = sep.join([" acdc-tui (file)", str(circuit.task.get("name")), f"{cfg.get('n_layers')}L {cfg.get('n_heads')}H", f"τ {circuit.settings.get('threshold')}", f"metric {circuit.task.get('metric')}", "complete" if circuit.complete else "partial"])
        await self._show_main(state, title)
        self.query_one("#log", DecisionLog).add_note(f"Browsing {self.description}: {state.status.kept} of {state.status.total} tested edges kept. No model is loaded: run the task to change edges.")
        self.query_one("#status", StatusBar).update(status_text(state.status, "viewing", self.ascii_only))

    # ---- attribution beside ACDC ----

    def _load_scores(self) -> None:
        from acdc_tui.core.errors import UserError
        from acdc_tui.io.scores import read_scores

        try:
            scores = read_scores(self.scores_path)
            self.state.set_scores(scores.scores)
        except (UserError, ValueError) as e:
            self.query_one("#log", DecisionLog).add_note(f"error: {e}")
            return
        c = self.state.comparison
        rho = "n/a" if c is None or c.spearman is None else f"{c.spearman:.3f}"
        self.query_one("#log", DecisionLog).add_note(
            f"Attribution ({scores.method}) from {self.scores_path}: column attr in the Edges tab, ≠ marks the edges where its ranking and ACDC's "
            f"decisions disagree most (sort by 'disagreement' with s); so far ρ(|score|, |Δ|) = {rho}"
        )
        self.set_interval(2.0, self._refresh_disagreement)
        self.query_one("#edges", EdgeTable).update_edges(set(self.state.edges))

    def _refresh_disagreement(self) -> None:
        changed = self.state.update_disagreement()
        if changed:
            self.query_one("#edges", EdgeTable).update_edges(changed)

    # ---- drawing ----

    def _redraw_dag(self) -> None:
        if self.query("#dag"):
            self.query_one("#dag", CircuitView).redraw()

    # ---- selection: shown everywhere ----

    def select(self, target: Node | Edge | None, source: str = "") -> None:
        if target is None or self.state is None:
            return
        self.selected = target
        self.query_one("#details", Details).show(target)
        self.query_one("#dag", CircuitView).show_selection(target)
        if source != "table" and isinstance(target, Edge):
            self.query_one("#edges", EdgeTable).show_edge(target)
        elif source != "table":
            self.query_one("#edges", EdgeTable).show_node(target)
        if source != "tree":
            self.query_one("#sidebar", HookTree).reveal(target)
        if source != "overview":
            self.query_one("#overview", Overview).show_node(target if isinstance(target, Node) else target.receiver)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted) -> None:
        kind, value = event.node.data or (None, None)
        if kind in ("node", "edge") and event.control.has_focus:  # only the user's moves select
            self.select(value, "tree")

    def on_edge_chosen(self, message: EdgeChosen) -> None:
        self.select(message.edge, "table")

    def on_node_chosen(self, message: NodeChosen) -> None:
        self.select(message.node, "overview")

    # ---- commands ----

    def _live(self) -> bool:
        if not self._live_run:
            self.notify("No run here: " + ("browsing a file; run its task to change edges" if self.circuit else "the task is still loading" if self.load_error is None else self.load_error), severity="warning")
            return False
        if not self.client.alive:
            self.notify(f"The run process has ended ({self.client.mode}): resume it with `acdc-tui resume {self.client.journal}`, or press R.", severity="warning")
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

        self.push_screen(Prompt("New threshold τ for the rest of the run", f"{self.client.run.threshold:g}", check, "Edges already decided keep their decisions."), done)

    def action_export(self) -> None:
        if not self._live_run and self.circuit is None:
            self._live()
            return

        def check(text: str) -> str | None:
            p = Path(text.strip() or ".")
            if p.is_dir():
                return f"{p} is a directory: give a file name"
            if not p.parent.is_dir():
                return f"directory {str(p.parent)!r} does not exist"
            return None

        def done(value: str | None) -> None:
            if value is None:
                return
            path = Path(value.strip())
            dot = path.with_suffix(".dot")
            if self._live_run:
                if self._live():
                    self.client.export(path, dot)
            else:
                write_circuit(self.circuit, path)
                dot.write_text(to_dot(self.circuit))
                self.notify(f"exported to {path} and {dot}")

        self.push_screen(Prompt("Export the circuit JSON to (DOT is written beside it)", str(self.out), check), done)

    def action_tab(self, name: str) -> None:
        """Show a tab and put the keyboard in it."""
        if self.query("#tabs"):
            self.query_one("#tabs", TabbedContent).active = f"tab-{name}"
            target = {"overview": "#overview", "circuit": "#dag", "edges": "#edge-data", "details": "#details"}[name]
            self.query_one(target).focus()

    def action_filter(self) -> None:
        if self.query("#tabs"):
            self.action_tab("edges")
            self.query_one("#edge-filter").focus()

    def action_toggle_sidebar(self) -> None:
        if self.query("#sidebar"):
            self.query_one("#sidebar").toggle_class("hidden")

    def action_help(self) -> None:
        self.push_screen(HelpScreen(help_text()))

    def run_in_progress(self) -> bool:
        return self._live_run and self.client.alive and not self.client.run.finished

    def action_quit_app(self) -> None:
        if not self.run_in_progress():
            if self._live_run:
                self.client.release()
            self.exit()
            return
        done, total = self.client.run.done, self.client.run.total

        def chosen(choice: str | None) -> None:
            if choice == "stop":
                self.client.stop()
                self.exit()
            elif choice == "leave":
                self.client.play()
                self.left_running = True
                self.exit()
            elif choice == "save":
                self._quit_after_export = True
                self.out.parent.mkdir(parents=True, exist_ok=True)
                self.client.export(self.out, self.out.with_suffix(".dot"))

        question = f"The run is in progress ({done}/{total} edges decided). It lives in its own process: leave it running in the background (acdc-tui attach reconnects), or stop it?"
        self.push_screen(ConfirmQuit(question), chosen)

    def action_resume(self) -> None:
        """Start a new run process on this journal's run (after a crash or a stop)."""
        if not self._live_run or self.client.alive or self.client.run.finished:
            self.notify("Nothing to resume: " + ("the run is still going" if self._live_run and self.client.alive else "the run finished" if self._live_run else "no run here"), severity="warning")
            return
        from acdc_tui.runs.launch import spawn

        process, output = spawn(["resume", str(self.client.journal), "--paused", "--quiet"], self.client.journal)
        self.client.process, self.client.output = process, output
        self.query_one("#log", DecisionLog).add_note(f"resuming {self.client.journal} in a new run process (pid {process.pid}); it starts paused")

    def on_unmount(self) -> None:
        if self._live_run:
            self.workers.cancel_group(self, "run")

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        for a in ACTIONS:
            yield SystemCommand(a.title if a.title != "τ" else "Threshold τ", f"{a.help}  [{a.key}]", lambda a=a: self.run_action(a.name))
