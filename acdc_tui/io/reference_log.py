"""Log lines in the reference implementation's format, so runs can be grepped and compared.

The reference prints, per tested edge:

    Node: cur_parent=TLACDCInterpNode(<sender>, <index>) (self.current_node=TLACDCInterpNode(<receiver>, <index>))
    Metric after removing connection to <sender> <index> is <new> (and current metric <old>)
    Result is <new - old>...so removing connection        (or ...so keeping connection)

Pinned and force-pruned edges keep that shape with a note after the decision, so the
reference's own log parser (it looks for "...so removing/keeping connection") still reads them.
"""

from __future__ import annotations

from acdc_tui.core.events import EdgeForced, EdgesPrefiltered, EdgeTested, Event, NodeEntered, NodeSkipped, OverrideApplied, RunFinished, RunStarted, ThresholdChanged, TreeShaken
from acdc_tui.core.graph import Node


def interp_node(n: Node) -> str:
    return f"TLACDCInterpNode({n.name}, {n.index_str})"


def _edge_lines(sender: Node, receiver: Node, old: float, new: float, delta: float, decision: str) -> list[str]:
    return [
        f"Node: cur_parent={interp_node(sender)} (self.current_node={interp_node(receiver)})",
        f"Metric after removing connection to {sender.name} {sender.index_str} is {new} (and current metric {old})",
        f"Result is {delta}...so {decision}",
    ]


def format_event(ev: Event) -> list[str]:
    """The log lines for one event (possibly none)."""
    if isinstance(ev, EdgeTested):
        decision = "removing connection" if ev.removed else "keeping connection"
        if ev.pinned:
            decision += " (pinned: the threshold rule would have removed it)"
        return _edge_lines(ev.edge.sender, ev.edge.receiver, ev.old_metric, ev.new_metric, ev.delta, decision)
    if isinstance(ev, EdgeForced):
        return _edge_lines(ev.edge.sender, ev.edge.receiver, ev.old_metric, ev.new_metric, ev.delta, "removing connection (force-pruned by the user, not tested)")
    if isinstance(ev, NodeEntered):
        return [f"We moved to {interp_node(ev.node)}"]
    if isinstance(ev, NodeSkipped):
        n = len(ev.removed)
        return [f"We moved to {interp_node(ev.node)}", f"But it's not connected to anything downstream, so removing its {n} incoming connection{'' if n == 1 else 's'} untested"]
    if isinstance(ev, RunStarted):
        return [f"ACDC: {ev.total_tests} edges to decide in a graph of {ev.n_nodes} nodes and {ev.n_edges} edges; initial metric {ev.initial_metric}"]
    if isinstance(ev, OverrideApplied):
        what = {"pin": "pinned", "force_prune": "force-pruned", "clear": "cleared the override on"}[ev.action]
        when = f"applied now, edge {'restored' if ev.present else 'removed'}; metric {ev.old_metric} -> {ev.current_metric}" if ev.live else "applies when it is tested"
        return [f"Override: {what} {ev.edge.sender} -> {ev.edge.receiver} ({when})"]
    if isinstance(ev, ThresholdChanged):
        return [f"Threshold changed from {ev.old} to {ev.new} for the rest of the run"]
    if isinstance(ev, EdgesPrefiltered):
        return [f"Prefilter (not the reference algorithm): removed {len(ev.removed)} edges with the lowest attribution scores, untested; metric {ev.old_metric} -> {ev.current_metric}"]
    if isinstance(ev, TreeShaken):
        return [f"Tree-shaking removed {len(ev.removed_edges)} edges and {len(ev.removed_nodes)} nodes not on an input-to-output path; metric {ev.old_metric} -> {ev.current_metric}"]
    if isinstance(ev, RunFinished):
        state = "finished" if ev.complete else "stopped early"
        return [f"ACDC {state}: kept {ev.kept}/{ev.total} edges; metric {ev.initial_metric} -> {ev.final_metric}"]
    return []
