"""The ACDC step loop, with the reference implementation's exact semantics.

Receivers are visited from output to input; each tested edge is removed, the metric is
re-evaluated, and the removal stands iff `new - current < threshold` (or `|new - current|` with
`abs_value_threshold`). A receiver that no longer feeds anything loses all its incoming edges
untested. One call to `step()` does one unit of work and returns its event.

Commands (pin, force-prune, clear, threshold, stop) may come from another thread; they are
queued and applied at the start of the next step, so the run only changes between steps.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

import networkx as nx

from acdc_tui.core.events import EdgeForced, EdgesPrefiltered, EdgeTested, Event, NodeEntered, NodeSkipped, OverrideApplied, RunFinished, RunStarted, ThresholdChanged, TreeShaken
from acdc_tui.core.graph import INPUT_KINDS, Absent, ComputationalGraph, Edge, EdgeType, Node


class Engine(Protocol):
    name: str

    def evaluate(self, absent: Absent) -> float: ...


@dataclass
class EdgeRecord:
    """What the run knows about one edge; exported as is."""

    edge: Edge
    present: bool = True
    delta: float | None = None  # new - old when it was tested (or force-pruned)
    seq: int | None = None  # event that decided it
    decided_by: str | None = None  # test | forced | skipped | prefilter | tree_shaking (None: not yet, or placeholder)
    tested_present: bool | None = None  # what the threshold rule said, before any override
    pinned: bool = False
    forced: bool = False


@dataclass
class AcdcRun:
    graph: ComputationalGraph
    engine: Engine
    threshold: float
    abs_value_threshold: bool = False
    tree_shaking: bool = False
    prefiltered: tuple[Edge, ...] = ()  # removed untested after the start (an attribution prefilter)
    records: dict[tuple[Node, Node], EdgeRecord] = field(init=False)
    initial_metric: float | None = field(init=False, default=None)
    current_metric: float | None = field(init=False, default=None)
    finished: bool = field(init=False, default=False)
    current_node: Node | None = field(init=False, default=None)
    done: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.records = {e.key: EdgeRecord(e) for e in self.graph.edges}
        self._absent: dict[Node, set[Node]] = {n: set() for n in self.graph.nodes}
        self.total = len(self.graph.tested_edges)
        self._kept = self.total
        self._seq = 0
        self._commands: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = False
        self._loop = self._run()

    # ---- commands (thread-safe: queued, applied between steps) ----

    def pin(self, edge: Edge) -> None:
        self._commands.put(("pin", _tested(edge)))

    def force_prune(self, edge: Edge) -> None:
        self._commands.put(("force_prune", _tested(edge)))

    def clear_override(self, edge: Edge) -> None:
        self._commands.put(("clear", _tested(edge)))

    def set_threshold(self, threshold: float) -> None:
        self._commands.put(("threshold", threshold))

    def stop(self) -> None:
        self._commands.put(("stop", None))

    # ---- stepping ----

    def step(self) -> Event:
        """Do one unit of work (a queued command, a node entered or skipped, one edge) and report it.

        Commands are still applied after the run has finished (overrides on the final circuit).
        """
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                break
            event = self._apply(*command)
            if event is not None:
                return event
        if self.finished:
            raise RuntimeError("the run has finished and no command is queued")
        return next(self._loop)

    def apply_commands(self) -> list[Event]:
        """Apply every queued command now, without advancing the run (a paused UI's overrides)."""
        out: list[Event] = []
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return out
            event = self._apply(*command)
            if event is not None:
                out.append(event)

    def events(self) -> Iterator[Event]:
        """Step until the run finishes."""
        while not self.finished:
            yield self.step()

    def step_edge(self) -> list[Event]:
        """Step up to and including the next edge decision (or the end)."""
        return self._step_until(ends_edge_step)

    def step_node(self) -> list[Event]:
        """Step until the next receiver is entered or skipped (or the end)."""
        return self._step_until(ends_node_step)

    def _step_until(self, last: Callable[[Event, int], bool]) -> list[Event]:
        out: list[Event] = []
        while not self.finished:
            out.append(self.step())
            if isinstance(out[-1], RunFinished) or last(out[-1], len(out)):
                break
        return out

    # ---- state ----

    @property
    def absent(self) -> Absent:
        return self._absent

    def is_present(self, edge: Edge) -> bool:
        return self.records[edge.key].present

    def kept(self) -> int:
        """Tested-type edges currently present (kept up to date incrementally: called per event)."""
        return self._kept

    def present_edges(self) -> list[Edge]:
        return [r.edge for r in self.records.values() if r.present]

    def dangling(self) -> set[tuple[Node, Node]]:
        """Kept edges whose path to the output is cut (see `dangling_edges`)."""
        return dangling_edges(self.graph, lambda e: self.records[e.key].present)

    # ---- internals ----

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _set_present(self, edge: Edge, present: bool) -> None:
        rec = self.records[edge.key]
        if edge.tested and rec.present != present:
            self._kept += 1 if present else -1
        rec.present = present
        if present:
            self._absent[edge.receiver].discard(edge.sender)
        else:
            self._absent[edge.receiver].add(edge.sender)

    def _evaluate(self) -> float:
        return self.engine.evaluate(self._absent)

    def _evaluate_with(self, edge: Edge, present: bool) -> float:
        """The metric with `edge` set present or absent; if evaluation fails (Ctrl-C, out of
        memory) the edge is set back, so the run's state stays consistent."""
        before = self.records[edge.key].present
        self._set_present(edge, present)
        try:
            return self._evaluate()
        except BaseException:
            self._set_present(edge, before)
            raise

    def _score(self, delta: float) -> float:
        """What the threshold rule compares: Δ, or |Δ|."""
        return abs(delta) if self.abs_value_threshold else delta

    def _connected(self, node: Node) -> bool:
        return any(self.records[e.key].present for e in self.graph.outgoing(node))

    def _run(self) -> Iterator[Event]:
        self.initial_metric = self.current_metric = self._evaluate()
        yield RunStarted(self._next_seq(), self.initial_metric, self.total, len(self.graph.nodes), len(self.graph.edges))
        if self.prefiltered and not self._stop:
            yield self._prefilter()
        for i, node in enumerate(self.graph.nodes):
            if self._stop:
                break
            self.current_node = node
            if i > 0 and node.kind not in INPUT_KINDS and not self._connected(node):
                yield self._skip(node)
                continue
            incoming = self.graph.incoming[node]
            yield NodeEntered(self._next_seq(), node, sum(e.tested and self.records[e.key].decided_by is None for e in incoming))
            if self.graph.incoming_type[node] is EdgeType.PLACEHOLDER:
                continue
            for edge in incoming:
                if self._stop:
                    break
                if self.records[edge.key].decided_by == "prefilter":
                    continue
                yield self._force(edge) if self.records[edge.key].forced else self._test(edge)
        self.current_node = None
        if self.tree_shaking and not self._stop:
            yield self._shake()
        self.finished = True
        yield RunFinished(self._next_seq(), self.initial_metric, self.current_metric, self.kept(), self.total, not self._stop)

    def _test(self, edge: Edge) -> EdgeTested:
        rec = self.records[edge.key]
        old = self.current_metric
        new = self._evaluate_with(edge, False)
        delta = new - old
        score = self._score(delta)
        remove = score < self.threshold
        rec.delta, rec.tested_present = delta, not remove
        if remove and not rec.pinned:
            self.current_metric = new
        else:
            self._set_present(edge, True)
        self.done += 1
        rec.seq, rec.decided_by = self._next_seq(), "test"
        return EdgeTested(rec.seq, edge, old, new, delta, score, remove and not rec.pinned, rec.pinned and remove, self.current_metric, self.done, self.total)

    def _force(self, edge: Edge) -> EdgeForced:
        rec = self.records[edge.key]
        old = self.current_metric
        self.current_metric = self._evaluate_with(edge, False)
        rec.delta = self.current_metric - old
        rec.tested_present = not self._score(rec.delta) < self.threshold  # what a test would have said
        self.done += 1
        rec.seq, rec.decided_by = self._next_seq(), "forced"
        return EdgeForced(rec.seq, edge, old, self.current_metric, rec.delta, self.current_metric, self.done, self.total)

    def _prefilter(self) -> EdgesPrefiltered:
        """Remove the prefiltered edges (pinned and force-pruned ones excepted) and evaluate once; if
        the evaluation fails they are set back, so the run's state stays consistent."""
        old = self.current_metric
        removed = [e for e in self.prefiltered if not (self.records[e.key].pinned or self.records[e.key].forced)]
        for edge in removed:
            self._set_present(edge, False)
        # An engine may take the hint that the run continues from this state (the fast engine's reference)
        evaluate = getattr(self.engine, "evaluate_as_reference", self.engine.evaluate)
        try:
            self.current_metric = evaluate(self._absent) if removed else old
        except BaseException:
            for edge in removed:
                self._set_present(edge, True)
            raise
        seq = self._next_seq()
        for edge in removed:
            rec = self.records[edge.key]
            rec.seq, rec.decided_by = seq, "prefilter"
        self.done += len(removed)
        return EdgesPrefiltered(seq, tuple(removed), old, self.current_metric, self.done, self.total)

    def _skip(self, node: Node) -> NodeSkipped:
        seq = self._next_seq()
        removed = []
        for edge in self.graph.incoming[node]:
            rec = self.records[edge.key]
            if rec.present and not rec.pinned:
                self._set_present(edge, False)
                removed.append(edge)
            if rec.decided_by is None:
                rec.seq, rec.decided_by = seq, "skipped"
                self.done += edge.tested
        # The node feeds nothing, so cutting its inputs cannot change the metric: no re-evaluation.
        return NodeSkipped(seq, node, tuple(removed), self.done, self.total)

    def _shake(self) -> TreeShaken:
        present = [r.edge for r in self.records.values() if r.present]
        g = self.graph.to_networkx(present)
        from_input = set().union(*({n} | nx.descendants(g, n) for n in self.graph.input_nodes))
        to_output = {self.graph.output_node} | nx.ancestors(g, self.graph.output_node)
        alive = from_input & to_output
        seq = self._next_seq()
        removed = []
        for e in present:
            if e.sender not in alive or e.receiver not in alive:
                self._set_present(e, False)
                rec = self.records[e.key]
                rec.seq, rec.decided_by = seq, "tree_shaking"
                removed.append(e)
        old = self.current_metric
        self.current_metric = self._evaluate() if removed else old
        dead = tuple(n for n in self.graph.nodes if n not in alive)
        return TreeShaken(seq, tuple(removed), dead, old, self.current_metric)

    def _apply(self, action: str, arg) -> Event | None:
        if action == "stop":
            self._stop = True
            return None
        if action == "threshold":
            old, self.threshold = self.threshold, float(arg)
            return ThresholdChanged(self._next_seq(), old, self.threshold)
        edge: Edge = arg
        rec = self.records[edge.key]
        rec.pinned, rec.forced = action == "pin", action == "force_prune"
        old, live = self.current_metric, False
        if rec.decided_by is not None:  # undecided edges just carry the flag to their turn
            want = True if rec.pinned else False if rec.forced else self._rule_decision(rec)
            if want != rec.present:
                self.current_metric = self._evaluate_with(edge, want)
                live = True
        return OverrideApplied(self._next_seq(), edge, action, live, rec.present, old, self.current_metric)

    @staticmethod
    def _rule_decision(rec: EdgeRecord) -> bool:
        """Whether ACDC itself (no overrides) keeps a decided edge."""
        return bool(rec.tested_present) if rec.decided_by in ("test", "forced") else False  # skipped, prefilter, tree_shaking: removed


def dangling_edges(graph: ComputationalGraph, present: Callable[[Edge], bool]) -> set[tuple[Node, Node]]:
    """Present edges whose receiver no longer reaches the output through present edges.

    Such an edge is kept (a pin holds it, or an override restored it after its receiver was
    skipped) but carries nothing to the output: its path is cut. ACDC keeps it as the user asked;
    views must mark it, never draw a path through it. One pass over the edges (O(E)).
    """
    reach = {graph.output_node}
    todo = [graph.output_node]
    while todo:
        node = todo.pop()
        for edge in graph.incoming[node]:
            if edge.sender not in reach and present(edge):
                reach.add(edge.sender)
                todo.append(edge.sender)
    return {e.key for n in graph.nodes if n not in reach for e in graph.incoming[n] if present(e)}


def ends_edge_step(ev: Event, n: int) -> bool:
    """Whether `ev`, the n-th event of a step, ends a step of one edge."""
    return isinstance(ev, (EdgeTested, EdgeForced, EdgesPrefiltered, RunFinished))


def ends_node_step(ev: Event, n: int) -> bool:
    """Whether `ev`, the n-th event of a step, ends a step to the next receiver."""
    return isinstance(ev, RunFinished) or (n > 1 and isinstance(ev, (NodeEntered, NodeSkipped)))


def _tested(edge: Edge) -> Edge:
    if not edge.tested:
        raise ValueError(f"{edge} is a placeholder edge: ACDC never tests or removes it, so it cannot be pinned or pruned")
    return edge
