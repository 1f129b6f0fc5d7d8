"""80x24 first-class, finding things, readable keys, one registry (issue 17 items 11 and 12, issue 18 item 4).

Real key presses (Textual's Pilot) on real small runs; snapshots of every tab at 80x24."""

from __future__ import annotations

from pathlib import Path

import pytest

from acdc_tui.core.graph import Edge
from acdc_tui.runs.client import RunClient
from acdc_tui.runs.driver import FINISHED
from acdc_tui.ui.actions import keys_markdown
from acdc_tui.ui.app import ExplorerApp
from acdc_tui.ui.finding import edge_name
from acdc_tui.ui.state import format_delta
from acdc_tui.ui.widgets.decision_log import DecisionLog
from acdc_tui.ui.widgets.edge_table import EdgeTable
from tests.helpers import LocalRun, attached_app, experiment
from tests.test_explorer_truth import mode, ready, until

ROOT = Path(__file__).resolve().parent.parent


def attached(tmp_path, runs, task="tracr-reverse", **options) -> ExplorerApp:
    return attached_app(experiment(task), tmp_path / f"{task}-{len(runs)}.journal", runs, **options)


async def finished(app, pilot) -> None:
    await until(pilot, lambda: ready(app))
    await pilot.press("space")
    await until(pilot, lambda: mode(app) == FINISHED)


def decided_edge(app) -> Edge:
    return next(e for e in app.state.graph.tested_edges if app.state.view(e).delta is not None and app.state.view(e).present)


# ---- 80x24 ----


async def test_80x24_keeps_f1_q_progress_eta_and_the_edges_columns(tmp_path, local_runs):
    from textual.widgets._footer import FooterKey

    app = attached(tmp_path, local_runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: ready(app))
        await pilot.press("n")
        await until(pilot, lambda: app.state.status.done >= 1 and mode(app) == "paused")
        await pilot.pause(0.2)
        assert app.query_one("#sidebar").has_class("hidden")  # the tabs get the whole width; ctrl+b shows it
        keys = {k.key: k for k in app.query(FooterKey)}
        for key in ("f1", "q"):
            assert key in keys and keys[key].region.right <= 80 and keys[key].region.width > 0
        status = str(app.query_one("#status").render())
        assert f"{app.state.status.done}/{app.state.status.total} edges" in status and "ETA" in status and len(status) <= 80
        await pilot.press("2")
        table = app.query_one(EdgeTable)
        names = [c.name for c in table.source.columns]
        assert "state" in names and "Δ" in names and "flags" in names
        assert table.table.line_width <= table.table.scrollable_content_region.width  # nothing cut at the right
        await pilot.press("ctrl+b")
        assert not app.query_one("#sidebar").has_class("hidden")


async def test_diff_rows_do_not_wrap(tmp_path, local_runs):
    app = attached(tmp_path, local_runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await finished(app, pilot)
        await pilot.press("D", *str(app.local.journal) + "@20", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "TextScreen")
        await pilot.pause(0.2)
        text = app.screen.text
        body = app.screen.query_one("Static")
        assert max(len(line) for line in text.splitlines()) > 70  # long rows...
        assert body.size.height == len(text.splitlines())  # ...each on one line: no wrapping


@pytest.mark.parametrize("tab", ["0", "1", "2", "3"], ids=["overview", "circuit", "edges", "details"])
def test_every_tab_at_80x24(snap_compare, tab, tmp_path, local_runs):
    def make() -> ExplorerApp:
        run = LocalRun(experiment("tracr-reverse"), tmp_path / "tracr-reverse.journal", clock=lambda: 0.0)
        local_runs.append(run)
        return ExplorerApp(client=RunClient(run.journal), ascii_only=False, clock=lambda: 0.0)

    async def run_before(pilot):
        app = pilot.app
        await finished(app, pilot)
        app.select(app.state.graph.output_node)
        await pilot.press(tab)
        await pilot.pause(0.5)  # the DAG redraw timer

    assert snap_compare(make(), terminal_size=(80, 24), run_before=run_before)


# ---- finding things ----


async def test_slash_jumps_to_a_name_in_every_tab(tmp_path, local_runs):
    app = attached(tmp_path, local_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await finished(app, pilot)
        m2 = next(n for n in app.state.graph.nodes if n.label == "m2")
        for tab in ("0", "1", "3"):
            await pilot.press(tab, "slash", "m", "2", "enter")
            assert app.selected == m2
            assert app.query_one("#dag").through == "m2"  # the Circuit tab shows the paths through it
            app.selected = None
        edge = decided_edge(app)
        await pilot.press("0", "slash", *f"{edge.sender.label} -> {edge.receiver.label}", "enter")
        assert app.selected == edge
        await pilot.press("slash", *"nothing.like.this", "enter")
        assert app.screen.query("#prompt-error") and "unknown hook point" in str(app.screen.query_one("#prompt-error").render())
        await pilot.press("escape")
        await pilot.press("2", "slash")  # in the Edges tab, / filters the table
        assert app.focused.id == "edge-filter"


async def test_y_copies_the_selected_edge_name_with_a_notification(tmp_path, local_runs):
    app = attached(tmp_path, local_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await finished(app, pilot)
        edge = decided_edge(app)
        await pilot.press("slash", *f"{edge.sender.label} {edge.receiver.label}", "enter", "y")
        assert app.clipboard == edge_name(edge) == f"{edge.sender}->{edge.receiver}"
        assert any(n.title == "copied" and edge_name(edge) in n.message for n in app._notifications)


async def test_f1_and_the_palette_list_every_action_with_readable_keys(tmp_path, local_runs):
    app = attached(tmp_path, local_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: ready(app))
        await pilot.press("f1")
        text = app.screen.text
        for word in ("comma", "full_stop", "less_than_sign", "left_square_bracket"):
            assert f"{word:>9}[/b]" not in text and f" {word}[/b]" not in text
        for key, words in ((",", "back one edge"), ("<", "previous receiver"), ("s", "sort"), ("[", "fewer hops"), ("A", "every head"), ("/", "jump to")):
            assert any(f"]{key:>9}[" in line and words in line.lower() for line in text.splitlines()), key
        await pilot.press("escape")
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Edges: Sort", "Edges: Reverse sort", "Circuit: Expand", "Circuit: Fewer hops", "Find", "Copy name", "Back"} <= set(titles)
        await pilot.press("ctrl+p", *"Edges: Sort")
        await pilot.pause(0.5)  # the palette searches in the background
        await pilot.press("enter")
        await until(pilot, lambda: app.query_one(EdgeTable).sort_name == "Δ")
        assert app.query_one("#tabs").active == "tab-edges"


def test_docs_keys_md_is_generated_from_the_registry():
    assert (ROOT / "docs" / "keys.md").read_text() == keys_markdown(), "regenerate: python -m acdc_tui.ui.actions > docs/keys.md"


async def test_the_branch_list_starts_on_the_current_run_and_enter_there_says_so(tmp_path, local_runs):
    app = attached(tmp_path, local_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: ready(app))
        await pilot.press("B")
        options = app.screen.query_one("#choices")
        assert "▶" in str(options.get_option_at_index(options.highlighted).prompt)
        await pilot.press("enter")
        assert type(app.screen).__name__ != "Choose" and app.client.journal == app.local.journal
        assert any("is the run shown" in n.message for n in app._notifications)


async def test_the_log_is_not_cut_at_the_panel_edge(tmp_path, local_runs):
    app = attached(tmp_path, local_runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await finished(app, pilot)
        log = app.query_one(DecisionLog)
        width = log.scrollable_content_region.width
        screen = [log.render_line(y).text.rstrip() for y in range(len(log.rows) - log.scroll_offset.y)]
        assert len(log.rows) > len(log.lines)  # long lines wrapped (on screen: the log keeps its lines whole)
        assert all(start == 0 or len("    ") + end - start <= width for _, start, end in log.rows) and all(end - start <= width for _, start, end in log.rows)
        end = next(i for i, line in enumerate(log.lines) if "ACDC finished" in line)
        assert str(app.state.status.current_metric) in "".join(log.lines[end][a:b] for i, a, b in log.rows if i == end)
        assert any(str(app.state.status.current_metric).split("e")[0][-6:] in row for row in screen)  # drawn whole


async def test_notifications_of_an_earlier_session_are_not_replayed_on_attach(tmp_path, local_runs):
    app = attached(tmp_path, local_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: ready(app))
        await pilot.press("t", *"0.5", "enter")
        await until(pilot, lambda: any("threshold set to 0.5" in line for line in app.query_one(DecisionLog).lines))
    again = ExplorerApp(client=RunClient(app.local.journal))
    async with again.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: ready(again))
        await pilot.pause(1.5)
        assert not any("threshold set to" in n.message for n in again._notifications)


async def test_the_side_bar_shows_delta_with_its_digits(tmp_path, local_runs):
    app = attached(tmp_path, local_runs)
    async with app.run_test(size=(120, 40)) as pilot:
        await finished(app, pilot)
        edge = decided_edge(app)
        tree = app.query_one("#sidebar")
        label = tree.edge_label(edge).plain
        assert format_delta(app.state.view(edge).delta) in label.split(edge.sender.label, 1)[1][:12]
    assert format_delta(0.125) != format_delta(0.117)


def test_run_help_usage_line_and_model_help(capsys):
    from acdc_tui.cli.main import main

    main(["run", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: acdc-tui run [-h]")
    model_help = " ".join(out.split("\n  --model PATH", 1)[1].split()[:40])
    assert "GPT-2 family" not in model_help and "gpt2" in model_help and "llama" in model_help
