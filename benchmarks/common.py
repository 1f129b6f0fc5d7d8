"""What the speed benchmarks share: a self-describing header, fixture task directories on disk, timed
`acdc-tui` commands in child processes, a busy competitor, and peak memory.

Every figure a benchmark prints comes from child processes it starts itself, so one invocation gives
comparable numbers (ratios in one run) and each measurement starts from a fresh interpreter: thread
settings are applied before torch starts, as in a real command.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
THREAD_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "ACDC_TUI_THREADS")
SUMMARY = re.compile(r"Summary: kept (\d+)/(\d+) edges;.*; (\d+) edges tested in ([0-9.]+) s \(([0-9.]+) edges/s\)")

# Run in the child: the CLI's own main (acdc_tui is imported first, as by the console script), then what
# only the process itself can say (threads, peak memory) as one JSON line on stderr.
CLI_CHILD = """
import json, re, sys
from acdc_tui.cli.main import main
import acdc_tui.runs.experiment as experiment
def rss(key):
    status = open('/proc/self/status').read() if sys.platform.startswith('linux') else ''
    found = re.search(key + r':\\s+(\\d+)', status)
    return int(found.group(1)) / 1024 if found else None
setup = {}
def prepare(*args, _prepare=experiment.prepare, **kwargs):  # resident memory right after the engine's setup
    exp = _prepare(*args, **kwargs)
    setup['rss'] = rss('VmRSS')
    try:
        import torch
        setup['gpu'] = torch.cuda.memory_allocated() / 2**20 if torch.cuda.is_initialized() else None
    except ImportError:
        pass
    return exp
experiment.prepare = prepare
rc = main(sys.argv[1:])
import torch
info = {'rc': rc, 'threads': torch.get_num_threads(), 'peak_rss_mb': rss('VmHWM'), 'setup_rss_mb': setup.get('rss'),
        'gpu_peak_mb': torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_initialized() else None,
        'gpu_setup_mb': setup.get('gpu')}
print('BENCH ' + json.dumps(info), file=sys.stderr)
sys.exit(rc)
"""


def machine_header(title: str, extra: str = "") -> str:
    """Date, machine, CPUs, torch and the load average when the benchmark starts."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"# {title}",
        f"# date {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}, host {socket.gethostname()}",
        f"# cpu {cpu}, {os.cpu_count()} logical CPUs ({len(os.sched_getaffinity(0))} usable), GPU {gpu}",
        f"# python {platform.python_version()}, torch {torch.__version__}; load average at start {load}",
    ]
    if extra:
        lines.append(f"# {extra}")
    return "\n".join(lines)


def fixture_dir(name: str, root: Path) -> Path:
    """benchmarks/fixtures.py's task directory `name` under `root`, written once."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from fixtures import write_fixture

    directory = root / name
    if not (directory / "tokens.pt").exists():
        write_fixture(name, directory)
    return directory


def task_args(task: str, root: Path) -> list[str]:
    """`--task NAME` for a builtin task, `--task-dir DIR` for a fixture."""
    import tasks

    return ["--task", task] if task in tasks.TASK_NAMES else ["--task-dir", str(fixture_dir(task, root))]


def thread_env(**settings: str) -> dict[str, str]:
    """This environment without any thread setting of ours or the user's, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env.update(settings)
    return env


@dataclass
class CliRun:
    """One `acdc-tui run` in a child process."""

    rc: int
    wall_s: float  # the whole command, interpreter start to exit
    run_s: float | None  # the run's own time (its summary line: first to last tested edge)
    tested: int | None
    kept: int | None
    total: int | None
    rate: float | None  # edges tested per second over the whole run
    threads: int | None
    peak_rss_mb: float | None
    gpu_peak_mb: float | None
    setup_rss_mb: float | None  # resident memory right after the engine's setup
    gpu_setup_mb: float | None  # torch.cuda.memory_allocated() right after the engine's setup
    first_edge_s: float | None  # command start to the first tested edge (from the journal)
    journal: Path
    out: Path
    stderr: str


def run_cli(argv: list[str], env: dict[str, str] | None = None, workdir: Path | None = None, timeout: float | None = None) -> CliRun:
    """`acdc-tui run ARGV --quiet` in a child process, with its own journal and circuit file in a new
    folder under `workdir` (default: the system's temporary folder), left for the caller to read or remove."""
    workdir = Path(tempfile.mkdtemp(prefix="acdc-bench-", dir=workdir))
    journal, out = workdir / "run.journal", workdir / "circuit.json"
    full = ["run", *argv, "--quiet", "--out", str(out), "--journal", str(journal)]
    start = time.time()
    done = subprocess.run([sys.executable, "-c", CLI_CHILD, *full], capture_output=True, text=True, cwd=workdir, env=env, timeout=timeout)
    wall = time.time() - start
    info = {}
    for line in done.stderr.splitlines():
        if line.startswith("BENCH "):
            info = json.loads(line[6:])
    match = SUMMARY.search(done.stdout)
    kept, total, tested, run_s, rate = (None,) * 5
    if match:
        kept, total, tested = int(match[1]), int(match[2]), int(match[3])
        run_s, rate = float(match[4]), float(match[5])
    return CliRun(done.returncode, wall, run_s, tested, kept, total, rate, info.get("threads"), info.get("peak_rss_mb"),
                  info.get("gpu_peak_mb"), info.get("setup_rss_mb"), info.get("gpu_setup_mb"), first_edge_time(journal, start), journal, out, done.stderr)


def first_edge_time(journal: Path, start: float) -> float | None:
    """Seconds from `start` (wall clock) to the journal's first tested edge."""
    import sqlite3

    if not journal.exists():
        return None
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        row = db.execute("SELECT MIN(t) FROM events WHERE kind = 'EdgeTested'").fetchone()
    return None if row is None or row[0] is None else row[0] - start


def kept_edges(circuit: Path) -> set[tuple]:
    """The present tested edges of a circuit JSON, as (sender hook, head, receiver hook, head)."""
    data = json.loads(circuit.read_text())
    return {(e["sender"]["hook"], e["sender"]["head"], e["receiver"]["hook"], e["receiver"]["head"])
            for e in data["edges"] if e["present"] and e["type"] != "placeholder"}


@contextmanager
def busy_competitor(count: int = 1):
    """`count` processes of `yes > /dev/null` (each keeps one core busy) while the block runs."""
    competitors = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(count)]
    try:
        time.sleep(0.5)  # let the scheduler see them
        yield
    finally:
        for process in competitors:
            process.kill()
            process.wait()


def peak_rss_reset() -> float:
    """Reset this process's peak resident memory (Linux: /proc/self/clear_refs) and return the current, in MiB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_mb("VmRSS")


def peak_rss_mb() -> float:
    """This process's peak resident memory since the last reset, in MiB."""
    return _status_mb("VmHWM")


def _status_mb(key: str) -> float:
    match = re.search(rf"{key}:\s+(\d+)", Path("/proc/self/status").read_text())
    return int(match.group(1)) / 1024 if match else float("nan")


def fmt(value, spec: str = ".2f", missing: str = "-") -> str:
    return missing if value is None else format(value, spec)
