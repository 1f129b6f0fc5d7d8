"""The one registry of the explorer's keys: the app's actions, time travel's, and the tabs' own.

Everything a person reads about keys is generated from here: the app's and the Edges tab's
bindings, the key bar, F1, the command palette (every action by name, the tabs' too) and
docs/keys.md (`python -m acdc_tui.ui.actions > docs/keys.md`; a test checks it is up to date).
The Circuit tab's widget keeps its own bindings (its module is drawn elsewhere): the registry
reads them from the class, so they show in F1, the palette and the docs all the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class Action:
    key: str  # Textual's key name
    action: str  # the action run on the scope's target: the app's action_<name>, or the tab widget's
    title: str
    help: str
    scope: str = "app"  # app | time | edges | circuit
    footer: bool = False  # in the key bar


SCOPES = {  # scope -> (heading, the tab it belongs to, the widget that runs it)
    "app": ("Run and selection", None, None),
    "time": ("Time travel, branches, diffs", None, None),
    "edges": ("Edges tab", "edges", "#edges"),
    "circuit": ("Circuit tab", "circuit", "#dag"),
}

APP_ACTIONS = [
    Action("f1", "help", "Help", "list every key", footer=True),
    Action("q", "quit_app", "Quit", "quit (asks first while a run is in progress: leave it as it is, or stop it)", footer=True),
    Action("space", "toggle_run", "Run/Pause", "start the run, or pause it after the current edge", footer=True),
    Action("n", "step_edge", "Step", "decide one more edge, then pause", footer=True),
    Action("N", "step_node", "Step node", "decide the rest of this receiver's edges, stop at the next receiver", footer=True),
    Action("p", "pin", "Pin", "pin the selected edge: ACDC never removes it (applied now if already decided)", footer=True),
    Action("x", "force_prune", "Prune", "force-prune the selected edge: removed without a threshold test", footer=True),
    Action("c", "clear_override", "Clear", "clear the selected edge's pin or force-prune"),
    Action("t", "threshold", "τ", "change the threshold τ for the rest of the run", footer=True),
    Action("e", "export", "Export", "write the circuit as shown (JSON, and DOT beside it), as `acdc-tui export --step N` does", footer=True),
    Action("slash", "find", "Find", "jump to a head, MLP, hook point or edge by name (in the Edges tab: filter its table)"),
    Action("y", "copy_name", "Copy name", "copy the selected edge's name (SENDER->RECEIVER, as --pin takes it) to the clipboard (OSC 52)"),
    Action("0", "tab('overview')", "Overview", "show the Overview tab (the model's heads and MLPs as a grid)"),
    Action("1", "tab('circuit')", "Circuit", "show the Circuit tab (the DAG)"),
    Action("2", "tab('edges')", "Edges", "show the Edges tab (sortable, filterable table)"),
    Action("3", "tab('details')", "Details", "show the Details tab (the selection and its history)"),
    Action("ctrl+b", "toggle_sidebar", "Side bar", "show or hide the hook-point tree"),
    Action("R", "resume", "Resume", "resume a stopped or crashed run in a new run process"),
]
TIME_ACTIONS = [
    Action("comma", "travel_edge(-1)", "Back", "time travel: back one edge decision (the run goes on)", "time"),
    Action("full_stop", "travel_edge(1)", "Forward", "time travel: forward one edge decision", "time"),
    Action("less_than_sign", "travel_node(-1)", "Back node", "time travel: back to the previous receiver", "time"),
    Action("greater_than_sign", "travel_node(1)", "Forward node", "time travel: forward to the next receiver", "time"),
    Action("g", "goto_event", "Go to event", "time travel: go to an event number", "time"),
    Action("w", "goto_decision", "When decided", "time travel: go to the event that decided the selected edge", "time"),
    Action("L", "live", "Live", "back to the present (the live run)", "time"),
    Action("b", "branch", "Branch", "continue the run from the event shown, with another τ and the pins / prunes marked with p / x in the past", "time"),
    Action("B", "branches", "Branches", "list this run's branches (and its parent) and switch to one", "time"),
    Action("D", "diff", "Diff", "compare this run's circuit with another circuit or journal (default: its parent)", "time"),
]
EDGES_ACTIONS = [
    Action("s", "cycle_sort", "Sort", "sort the Edges tab by the next column (visiting order, Δ, step, ...)", "edges", footer=True),
    Action("S", "reverse_sort", "Reverse sort", "reverse the Edges tab's order", "edges"),
]
NAV_KEYS = [  # keys the widgets handle themselves (moving around), listed in F1 and the docs
    ("tab", "move focus: side bar, tabs, table, log"),
    ("arrows", "move in the tree, the grid, the table; scroll the DAG and the log"),
    ("right", "expand a tree branch (hook points list their edges)"),
    ("enter", "select the cell or row under the cursor"),
    ("ctrl+p", "command palette: every action by name"),
]
READABLE = {"comma": ",", "full_stop": ".", "less_than_sign": "<", "greater_than_sign": ">", "slash": "/", "left_square_bracket": "[", "right_square_bracket": "]", "f1": "F1", "minus": "-", "plus": "+"}


def key_display(key: str) -> str:
    """A key as a person types it: ',' not 'comma', 'F1' not 'f1'."""
    return READABLE.get(key, key)


def circuit_actions() -> list[Action]:
    from acdc_tui.ui.widgets.circuit_view import CIRCUIT_ACTIONS

    return [Action(key, action, title, help_text, "circuit") for key, action, title, help_text in CIRCUIT_ACTIONS]


def all_actions() -> list[Action]:
    return APP_ACTIONS + TIME_ACTIONS + EDGES_ACTIONS + circuit_actions()


def bindings(*scopes: str) -> list[Binding]:
    """Textual bindings of the actions in `scopes`; the key bar shows those marked `footer`, in order."""
    actions = APP_ACTIONS + TIME_ACTIONS + EDGES_ACTIONS + (circuit_actions() if "circuit" in scopes else [])
    return [Binding(a.key, a.action, a.title, show=a.footer, key_display=key_display(a.key)) for a in actions if a.scope in scopes]


def help_text() -> str:
    """F1: every key, grouped by where it works, with the keys as a person types them."""
    lines = ["[b]acdc-tui keys[/b]"]
    for scope, (heading, _, _) in SCOPES.items():
        lines += ["", f"[b]{heading}[/b]"]
        lines += [f"  [b]{key_display(a.key):>9}[/b]  {a.help}" for a in all_actions() if a.scope == scope]
    lines += ["", "[b]Moving around[/b]"] + [f"  [b]{k:>9}[/b]  {h}" for k, h in NAV_KEYS]
    lines += [
        "",
        "Node marks: · pending  ▶ current  ● alive  ✗ dead  (Overview: ◆ an in-edge pinned or forced);",
        "counts are kept/removed/total tested in-edges; 'dangling': kept, but its path to the output is cut.",
    ]
    return "\n".join(lines)


def keys_markdown() -> str:
    """docs/keys.md: the key table, generated from this registry."""
    out = ["# Keys", "", "Generated from `acdc_tui/ui/actions.py` (`python -m acdc_tui.ui.actions > docs/keys.md`); every action is also in the command palette (ctrl+p).", ""]
    for scope, (heading, _, _) in SCOPES.items():
        out += [f"## {heading}", "", "| key | action | what it does |", "| --- | --- | --- |"]
        out += [f"| `{key_display(a.key)}` | {a.title} | {a.help.replace('|', '/')} |" for a in all_actions() if a.scope == scope]
        out.append("")
    out += ["## Moving around", "", "| key | what it does |", "| --- | --- |"] + [f"| `{k}` | {h} |" for k, h in NAV_KEYS]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(keys_markdown(), end="")
