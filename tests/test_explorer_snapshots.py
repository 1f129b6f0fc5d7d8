"""Layout snapshots of the explorer at the smallest and a wide terminal (pytest-textual-snapshot).

The clock is frozen so elapsed time and rate print the same on every machine. Update after an
intended layout change with `pytest tests/test_explorer_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import pytest

from acdc_tui.runs.client import RunClient
from acdc_tui.runs.driver import FINISHED
from acdc_tui.ui.app import ExplorerApp
from tests.helpers import LocalRun, experiment
from tests.test_explorer import until


@pytest.fixture
def frozen_app(tmp_path, local_runs):
    def make() -> ExplorerApp:
        run = LocalRun(experiment("tracr-reverse"), tmp_path / "tracr-reverse.journal", clock=lambda: 0.0)
        local_runs.append(run)
        return ExplorerApp(client=RunClient(run.journal), ascii_only=False, clock=lambda: 0.0)

    return make


async def finish(pilot) -> None:
    app = pilot.app
    await until(pilot, lambda: app.state is not None and app.state.status is not None and bool(app.query("#details")))
    await pilot.press("space")
    await until(pilot, lambda: app.state.status.mode == FINISHED)
    await pilot.pause(0.5)  # the DAG redraw timer


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["80x24", "160x50"])
def test_finished_run_layout(snap_compare, size, frozen_app):
    assert snap_compare(frozen_app(), terminal_size=size, run_before=finish)


def test_edges_tab_sorted_by_delta(snap_compare, frozen_app):
    async def run_before(pilot):
        await finish(pilot)
        await pilot.press("2", "s")

    assert snap_compare(frozen_app(), terminal_size=(160, 50), run_before=run_before)
