"""Two readers of one live journal in one process (the explorer holds two) both see what the run
process commits: no reader may open() the file beside SQLite, since closing that descriptor drops
every POSIX lock the process holds on it and the others then read a stale journal."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from acdc_tui.runs.journal.reader import JournalReader
from acdc_tui.runs.journal.schema import CommandKind
from acdc_tui.runs.journal.view import is_journal

ROOT = Path(__file__).resolve().parents[1]


def test_two_readers_in_one_process_follow_a_live_run(tmp_path):
    journal = tmp_path / "run.journal"
    run = subprocess.Popen([sys.executable, "-m", "acdc_tui", "run", "--task", "tracr-reverse", "--threshold", "0.01", "--paused", "--quiet",
                            "--journal", str(journal), "--out", str(tmp_path / "c.json")],
                           cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not journal.exists():
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.05)
        first, second = JournalReader(journal), JournalReader(journal)  # the explorer's follower and sender
        assert is_journal(journal)  # and a check of the file on the way, as the diff view makes
        while first.status().get("mode") != "paused":
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.1)
        assert second.status().get("mode") == "paused" and JournalReader(journal).status().get("mode") == "paused"
        second.send(CommandKind.STEP_EDGE, None, "test")  # what the run commits after both readers opened
        while first.status().get("done", 0) == 0 or first.status().get("mode") != "paused":
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.1)
        assert second.status().get("done") == first.status().get("done") > 0
        first.close()
        second.close()
    finally:
        run.kill()
        run.communicate()
