"""The explorer app: VS Code's layout in a terminal, a client of a run process.

The app owns no ACDC logic and runs no model. The run lives in its own process and records every
event in its journal; a `RunClient` follows the journal in a Textual thread worker (replaying it)
and posts `Batch` snapshots as messages; the app applies them to an `ExplorerState` and redraws.
Keys become commands the client writes to the journal. Widgets are only touched on the app's thread.
"""

from __future__ import annotations

import dataclasses
import gc
import sys
import time
from pathlib import Path
from typing import Callable

from rich.markup import escape
from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static, TabbedContent, TabPane, Tree
from textual.worker import get_current_worker

from acdc_tui.core.errors import UserError
from acdc_tui.core.graph import ComputationalGraph, Edge, Node
from acdc_tui.io.circuit import Circuit
from acdc_tui.runs.client import RunClient
from acdc_tui.runs.driver import ENDED, RunStatus
from acdc_tui.ui.actions import SCOPES, all_actions, bindings, key_display
from acdc_tui.ui.commands import RunCommandsMixin
from acdc_tui.ui.exporting import ExportMixin
from acdc_tui.ui.finding import FindMixin
from acdc_tui.ui.messages import EdgeChosen, Loaded, NodeChosen, RunUpdate
from acdc_tui.ui.state import ExplorerState
from acdc_tui.ui.time_travel import TimeTravelMixin
from acdc_tui.ui.widgets.bars import StatusBar, TitleBar, status_text
from acdc_tui.ui.widgets.circuit_view import CircuitView
from acdc_tui.ui.widgets.key_bar import KeyBar
from acdc_tui.ui.widgets.decision_log import DecisionLog
from acdc_tui.ui.widgets.details import Details
from acdc_tui.ui.widgets.edge_table import EdgeTable
from acdc_tui.ui.widgets.hook_tree import HookTree
from acdc_tui.ui.widgets.overview import Overview

DAG_REDRAW_S = 0.25
NARROW_WIDTH = 100  # narrower terminals start with the side bar hidden


class ExplorerApp(RunCommandsMixin, ExportMixin, FindMixin, TimeTravelMixin, App):
    TITLE = "acdc-tui"
    CSS_PATH = "explorer.tcss"  # every widget's style, the dialogs' too
    BINDINGS = bindings("app", "time")  # F1 and q first in the key bar: an 80-column bar cuts its end

    def __init__(
        self,
        *,
        client: RunClient | None = None,
        circuit: Circuit | None = None,
        circuit_graph: ComputationalGraph | None = None,
        out: Path | None = None,  # where Export writes by default (None: beside the run's journal, named after it)
        description: str = "",
        ascii_only: bool | None = None,
        autorun: bool = False,
        clock: Callable[[], float] = time.monotonic,
        scores: Path | None = None,
    ) -> None:
        super().__init__()
        self.client, self.circuit, self.circuit_graph = client, circuit, circuit_graph
        self.scores_path = scores  # attribution scores (acdc-tui attribute --out) shown beside Δ
        self.out = None if out is None else Path(out)
        self.description = description
        self.ascii_only = ascii_only if ascii_only is not None else not (sys.stdout.encoding or "").lower().startswith("utf")
        self.autorun, self.clock = autorun, clock
        self.state: ExplorerState | None = None
        self.selected: Node | Edge | None = None
        self.load_error: str | None = None
        self.left_running: str | bool = False  # quit with the run left in the background: its mode then (paused, running, ...)
        self._live_run = False
        # time travel (ui/time_travel.py): a cursor while showing the past; the timeline index and
        # replay generation the shown state is at; overrides marked in the past for a branch
        self.cursor = None
        self.position, self.generation = -1, 0
        self.branch_pins: list[str] = []
        self.branch_prunes: list[str] = []
        self._init_export()
        self._live_status: RunStatus | None = None  # the latest live status (the display may show the past)

    # ---- layout ----

    def compose(self) -> ComposeResult:
        yield TitleBar(self.description or "acdc-tui", id="title")
        yield Static(f"Loading {self.description or 'the task'} …  (TransformerLens takes a few seconds to import)", id="loading")
        yield StatusBar(status_text(None, "loading"), id="status")
        yield KeyBar()

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
        tree = HookTree(state, "model", ascii_only=self.ascii_only, id="sidebar", classes="hidden" if self.size.width < NARROW_WIDTH else None)
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
            self.query_one("#status", StatusBar).show(None, "error")
            return
        await self._start()

    # ---- a live run ----

    async def _start(self) -> None:
        client = self.client
        status = client.status()  # snapshots taken before the follower starts: the app never reads the live run
        await self._show_main(ExplorerState(client.graph, client.views(), status), self._title(status))
        self._live_run = True
        self._follow()
        log = self.query_one("#log", DecisionLog)
        log.add_note(
            f"Attached to {client.journal.name}: {status.total} edges to decide. space runs or pauses, n steps one edge, N steps to the next receiver; "
            "select an edge (side bar → or the Edges tab) to pin (p) or prune (x) it; F1 lists every key."
        )
        if self.autorun and client.alive and status.mode not in ENDED:
            client.play()

    def _title(self, status: RunStatus) -> str:
        meta, sep = self.client.meta, " | " if self.ascii_only else " │ "
        c, s = meta.get("model", {}).get("config", {}), meta.get("settings", {})
        shape = f"{c.get('n_layers')}L {c.get('n_heads')}H d{c.get('d_model')}{' attn-only' if c.get('attn_only') else ''}"
        ablation = "zero" if s.get("zero_ablation") else "mean" if s.get("mean_ablation") else "corrupted"
        task = meta.get("task", {})
        return sep.join([" acdc-tui", str(task.get("name")), shape, f"τ {status.threshold:g}", f"metric {task.get('metric')}", f"{ablation} ablation", f"{s.get('device')} {s.get('dtype')}", f"engine {s.get('engine')}"])

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
        self._live_status = batch.status
        self.check_save_on_stop(batch.status)
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
        changes = self.state.apply(batch)
        self._show_changes(changes, batch.status)
        for key in sorted(changes.dangling, key=lambda k: (self.state.order[k[1]], self.state.order[k[0]])):
            s, r = key
            log.add_note(f"warning: {s.label} → {r.label} dangles: {r.label} no longer reaches the output, so the kept edge carries nothing (marked dangling in the Edges tab, Details and the exported JSON)")

    def _show_changes(self, changes, status, where: str = "") -> None:
        """Redraw what a change of the shown state touched (a live batch, or a move in time)."""
        self.query_one("#status", StatusBar).show(status, ascii_only=self.ascii_only, where=where)
        if changes is None:
            return
        self.query_one("#sidebar", HookTree).refresh_items(changes.nodes, changes.edges)
        self.query_one("#edges", EdgeTable).update_edges(changes.edges)
        self.query_one("#overview", Overview).changed()
        self.query_one("#spark", Sparkline).data = self.state.metric_series[-2000:]
        if self.client is not None:
            self.query_one("#title", TitleBar).update(self._title(self._live_status or self.state.status))
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
        self.query_one("#status", StatusBar).show(state.status, "viewing", self.ascii_only)

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

    def on_unmount(self) -> None:
        if self._live_run:
            self.workers.cancel_group(self, "run")

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        for a in all_actions():
            heading, tab, target = SCOPES[a.scope]
            title = a.title if a.title != "τ" else "Threshold τ"
            yield SystemCommand(f"{heading.split()[0]}: {title}" if tab else title, escape(f"{a.help}  [{key_display(a.key)}]"), lambda a=a, tab=tab, target=target: self.run_scoped(a.action, tab, target))

    def run_scoped(self, action: str, tab: str | None, target: str | None) -> None:
        """Run a registry action from the palette: a tab's action shows its tab first."""
        if target is None:
            self.run_action(action)
        elif self.query(target):
            self.action_tab(tab)
            self.call_later(self.query_one(target).run_action, action)
