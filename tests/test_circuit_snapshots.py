"""The Circuit tab's three views at 80x24 on tracr-reverse's finished run (pytest-textual-snapshot).

Update after an intended change with `pytest tests/test_circuit_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import pytest

from tests.test_explorer_snapshots import finish, frozen_app  # noqa: F401 (a fixture)


@pytest.mark.parametrize("keys", [("1",), ("1", "v"), ("1", "v", "v"), ("1", "j", "a", "3", ".", "0", "enter")], ids=["paths", "matrix", "graph", "jump"])
def test_circuit_tab(snap_compare, frozen_app, keys):  # noqa: F811
    async def run_before(pilot):
        await finish(pilot)
        await pilot.press(*keys)
        await pilot.pause(0.5)

    assert snap_compare(frozen_app(), terminal_size=(80, 24), run_before=run_before)
