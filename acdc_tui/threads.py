"""CPU threads that hold up on a shared machine.

torch runs its CPU kernels on OpenMP threads, and by default an idle OpenMP thread spins, waiting
for the next parallel region. The fast engine issues many small operations; with another busy
process on the cores, every one of them waits for a thread that lost its core to the spinners, and
a 3-layer model's run took 22x its quiet time (issue 12). Two settings hold it to well under 2x:

* Passive waiting (`OMP_WAIT_POLICY=PASSIVE`): idle threads sleep. OpenMP reads it when torch loads
  it, so `configure_before_torch()` runs first thing in `acdc_tui/__init__.py`, before any entry point
  (the `acdc-tui` script, `python -m acdc_tui`, the run process the explorer spawns) imports torch.
* As many threads as the work can use (`fit_to_work`, once the task is loaded): one activation of a
  small model is too small to split, and one thread is then faster, quiet or loaded; larger batches
  of larger models get one thread per `ELEMENTS_PER_THREAD` elements, up to the cores we may use.

The user's own settings win: `OMP_WAIT_POLICY` or `GOMP_SPINCOUNT` (the wait policy),
`OMP_NUM_THREADS` or `MKL_NUM_THREADS` (the thread count), `ACDC_TUI_THREADS=N` (N threads, passive
waiting) or `ACDC_TUI_THREADS=torch` (torch's defaults, nothing changed), and a torch imported
before acdc_tui (its settings are the importer's business).
"""

from __future__ import annotations

import os
import sys

ENV = "ACDC_TUI_THREADS"
ELEMENTS_PER_THREAD = 2**18  # of one activation [batch, pos, d_model]: 2^18 ~ 50 x 15 x 350 floats
USER_COUNT_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

_auto_count = False  # whether fit_to_work chooses the thread count


def configure_before_torch() -> None:
    """Passive OpenMP waiting unless the user chose otherwise; note whether the thread count is ours to choose."""
    global _auto_count
    setting = os.environ.get(ENV, "").strip().lower()
    if setting == "torch" or "torch" in sys.modules:
        return
    if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    _auto_count = not setting and not any(name in os.environ for name in USER_COUNT_VARIABLES)


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask: taskset, cpusets, SLURM)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threads_for(elements: int, cores: int) -> int:
    """The thread count for operations on activations of `elements` values."""
    return max(1, min(cores, elements // ELEMENTS_PER_THREAD))


def requested_threads() -> int | None:
    """ACDC_TUI_THREADS as a thread count (None when unset or `torch`); a bad value is a UserError."""
    from acdc_tui.core.errors import UserError

    setting = os.environ.get(ENV, "").strip().lower()
    if setting in ("", "torch"):
        return None
    if not setting.isdigit() or int(setting) < 1:
        raise UserError(f"{ENV}={os.environ[ENV]!r} is not a thread count: set it to a positive whole number, or to 'torch' to keep torch's own settings")
    most = max(4 * (os.cpu_count() or 1), 4)
    if len(setting) > 6 or int(setting) > most:  # thousands of threads on a few cores crawl (0.6 edges/s at 10,000)
        raise UserError(f"{ENV}={setting[:12]} threads is more than 4 per CPU core ({os.cpu_count()} cores): set at most {most}")
    return int(setting)


def fit_to_work(elements: int, device: str = "cpu") -> None:
    """Set torch's CPU thread count for activations of `elements` values, unless the user chose one."""
    requested = requested_threads()
    if str(device).startswith("cuda") or (requested is None and not _auto_count):
        return
    import torch

    torch.set_num_threads(requested or threads_for(elements, usable_cores()))
