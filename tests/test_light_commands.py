"""Commands that need no model start without importing torch or TransformerLens (seconds of start-up):
`--help`, `tasks`, `ps`, `dot`, `export`, `diff` and `log` of journals, and `open` of a circuit JSON (up
to the point where the explorer starts; without a terminal it stops there with one line)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from acdc_tui.cli.main import main

HEAVY = ("torch", "transformer_lens", "transformers", "datasets", "numpy")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    where = tmp_path_factory.mktemp("light")
    (where / "runs").mkdir()
    assert main(["run", "--task", "tracr-proportion", "--threshold", "0.01", "--quiet", "--out", str(where / "c.json"), "--journal", str(where / "runs" / "j.journal")]) == 0
    return where


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--help-explorer"], ["tasks"], ["ps", "runs"], ["dot", "c.json"], ["open", "c.json"],
     ["export", "runs/j.journal", "--out", "e.json", "--step", "10"], ["diff", "runs/j.journal@10", "c.json"], ["log", "runs/j.journal"]],
    ids=lambda argv: " ".join(argv),
)
def test_no_heavy_imports(finished_run, argv):
    code = (
        "import sys\n"
        "from acdc_tui.cli.main import main\n"
        f"rc = main({argv!r})\n"
        f"print('imported:', sorted(m for m in {HEAVY!r} if m in sys.modules), rc, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=finished_run, timeout=120)
    last = done.stderr.strip().splitlines()[-1]
    want_rc = {"open": 2, "diff": 1}.get(argv[0], 0)  # open: "needs a terminal", after reading and checking the file
    assert last == f"imported: [] {want_rc}", done.stdout[-500:] + done.stderr
    if argv[0] == "ps":
        assert "finished" in done.stdout and "tracr-proportion" in done.stdout
    if argv[0] == "open":
        assert "acdc-tui open needs a terminal" in done.stderr
