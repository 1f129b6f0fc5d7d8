"""Snapshots of the Overview tab on a GPT-2-small-shaped model (12 layers x 12 heads) mid-run.

The clock is frozen and the run stepped to a fixed point (float64), so every machine draws the same
screen. Update after an intended change with `pytest tests/test_overview_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import pytest

from tests.helpers import attached_app, experiment
from tests.test_edge_table import step_receivers
from tests.test_explorer import until


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["80x24", "160x50"])
def test_overview_mid_run(snap_compare, gpt2_shaped_task_dir, size, tmp_path, local_runs):
    app = attached_app(experiment(task_dir=gpt2_shaped_task_dir, threshold=0.001), tmp_path / "run.journal", local_runs, clock=lambda: 0.0, ascii_only=False)

    async def run_before(pilot):
        await until(pilot, lambda: app.state is not None and app.state.status is not None and bool(app.query("#details")))
        await step_receivers(pilot, 3)  # the output's and the last MLP's in-edges decided
        await pilot.press("down", "down", "right")  # the cursor into layer 0: described on the info line
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
