"""The ACDC core runs headless: importing and running it never loads textual."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ["acdc_tui.core.graph", "acdc_tui.engines.patching", "acdc_tui.core.algorithm", "acdc_tui.core.events", "acdc_tui.core.metrics", "acdc_tui.io.circuit",
        "acdc_tui.runs.experiment", "acdc_tui.models.backend", "acdc_tui.cli.headless", "acdc_tui.io.reference_log", "acdc_tui.runs.progress",
        "acdc_tui.cli.main", "tasks", "tasks.task", "tasks.tracr_tasks", "tasks.task_dir"]


def test_core_and_a_headless_run_never_import_textual(tmp_path):
    code = (
        f"import sys\nfor m in {CORE!r}: __import__(m)\n"
        "from acdc_tui.cli.main import main\n"
        f"assert main(['run', '--task', 'tracr-proportion', '--threshold', '0.01', '--quiet', '--out', {str(tmp_path / 'c.json')!r}]) == 0\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print('TEXTUAL', bad)\n"
    )
    proc = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "TEXTUAL []" in proc.stdout


def test_import_linter_contract():
    """pyproject.toml's import-linter contract: core modules and tasks may not import textual."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is part of the dev extra"
    proc = subprocess.run([lint], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 kept, 0 broken" in proc.stdout
