"""What a `kill -9` loses: decisions the run had made (its live log says so) that its journal lacks.

    .venv/bin/python benchmarks/kill_loss.py [--task medium] [--threshold 0.05] [--kills 10] [--seed 0]

Starts `acdc-tui run` in a child process, waits a random time after its first tested edge, sends
SIGKILL, then compares the run's `--log` (flushed line by line, so it holds every decision the run
wrote before it died) with the journal: how many decisions ("Result is ... so removing/keeping")
are in the log but not committed, and how old the last committed event was at the kill. Then it
resumes the journal with `acdc-tui resume` and checks the circuit against an uninterrupted run.
The bound by design: the edge under test plus 0.5 s of decisions.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import kept_edges, machine_header, run_cli, task_args  # noqa: E402

DECISION = "Result is "  # one line per tested edge in the reference-format log


def committed(journal: Path) -> tuple[int, float | None]:
    """Edges tested in the journal's committed events, and the time of its last event."""
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        tested = db.execute("SELECT COUNT(*) FROM events WHERE kind = 'EdgeTested'").fetchone()[0]
        last = db.execute("SELECT MAX(t) FROM events").fetchone()[0]
    return tested, last


def wait_for_first_edge(journal: Path, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if journal.exists():
            try:
                if committed(journal)[0] > 0:
                    return
            except sqlite3.Error:
                pass
        time.sleep(0.05)
    raise SystemExit("the run never tested an edge")


def one_kill(argv: list[str], delay: float, work: Path) -> dict:
    journal, log, out = work / "run.journal", work / "run.log", work / "circuit.json"
    cmd = [sys.executable, "-m", "acdc_tui", "run", *argv, "--quiet", "--journal", str(journal), "--log", str(log), "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_first_edge(journal, proc)
    time.sleep(delay)
    if proc.poll() is not None:
        return {"finished_before_kill": True}
    os.kill(proc.pid, signal.SIGKILL)
    killed_at = time.time()
    proc.wait()
    logged = sum(1 for line in log.read_text().splitlines() if line.startswith(DECISION))
    in_journal, last_t = committed(journal)
    resumed = subprocess.run([sys.executable, "-m", "acdc_tui", "resume", str(journal), "--quiet", "--out", str(work / "resumed.json")],
                             cwd=work, capture_output=True, text=True)
    return {
        "delay": delay,
        "logged": logged,
        "committed": in_journal,
        "lost": logged - in_journal,
        "age": killed_at - last_t if last_t else None,
        "resume_rc": resumed.returncode,
        "resumed": work / "resumed.json",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="medium", help="a fixture of benchmarks/fixtures.py or a builtin task")
    ap.add_argument("--threshold", type=float, default=0.05)
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", type=Path, default=None, help="where fixtures are written (default: a temporary folder)")
    args = ap.parse_args()

    root = args.dir or Path(tempfile.mkdtemp(prefix="kill-loss-"))
    argv = [*task_args(args.task, root), "--threshold", str(args.threshold)]
    print(machine_header("benchmarks/kill_loss.py: what kill -9 loses", f"task {args.task}, τ {args.threshold}, fast engine, cpu, float32"))
    whole = run_cli(argv, workdir=root)
    if whole.rc != 0 or whole.run_s is None:
        raise SystemExit(f"the uninterrupted run failed: {whole.stderr.strip().splitlines()[-1:]}")
    want = kept_edges(whole.out)
    per_edge = whole.run_s / max(1, whole.tested)
    print(f"uninterrupted: {whole.tested} edges tested in {whole.run_s:.1f} s ({per_edge * 1000:.1f} ms per edge), kept {len(want)}")
    rng = random.Random(args.seed)
    print(f"{'kill':>4} {'after s':>8} {'in log':>7} {'in journal':>10} {'lost':>5} {'last commit age s':>18} {'resume':>7} {'same circuit':>12}")
    worst_lost, worst_age, all_same = 0, 0.0, True
    for k in range(args.kills):
        delay = rng.uniform(0.2, max(0.3, whole.run_s * 0.8))
        r = one_kill(argv, delay, Path(tempfile.mkdtemp(prefix="kill-", dir=root)))
        if r.get("finished_before_kill"):
            print(f"{k + 1:>4} {delay:>8.2f}  (finished before the kill)")
            continue
        same = r["resume_rc"] == 0 and kept_edges(r["resumed"]) == want
        all_same &= same
        worst_lost, worst_age = max(worst_lost, r["lost"]), max(worst_age, r["age"] or 0.0)
        print(f"{k + 1:>4} {r['delay']:>8.2f} {r['logged']:>7} {r['committed']:>10} {r['lost']:>5} {r['age'] or float('nan'):>18.3f} {r['resume_rc']:>7} {str(same):>12}")
    print(f"worst: {worst_lost} decisions lost, last commit {worst_age:.3f} s before the kill "
          f"(bound: the edge under test + 0.5 s ≈ {0.5 / per_edge:.0f} decisions here); every resume gave the uninterrupted circuit: {all_same}")


if __name__ == "__main__":
    main()
