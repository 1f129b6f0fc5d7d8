"""glibc's allocator fitted to the run (CPU): `fit_to_work` once the engine knows its activations'
size, `trim_now_and_then` after each evaluation.

glibc serves allocations below its mmap threshold from its heap, and raises that threshold (up to
32 MiB) each time a larger block is freed; the heap's free top is given back to the system past a trim
threshold that follows it. Where those moving thresholds land depends on what setup freed, so the same
small run can serve its tensors from the heap or map, fault in and unmap them at every evaluation:

* Small activations (batch x positions x d_model under 1 MiB): a steady heap, both thresholds fixed
  (`HeapMode.STEADY`). The medium fixture's run: 18.8 s steady, 38.8 s or 18.8 s on glibc's default
  depending on the process; mlp3 0.93 s against 1.45 s; the same kept edges and peak memory
  (benchmarks/plan_check.py, docs/cost.md).
* Large activations: glibc's default plus `trim_now_and_then`, which keeps a GPT-2-small-shaped run at
  1.38x its after-setup memory (docs/cost.md). Opt-in, `ACDC_TUI_MALLOC=mmap` maps blocks of 4 MiB and
  more on their own and unmaps them when freed (measured before the engine freed each forward's
  tensors: 13.5 GiB peak with glibc's default, 11.2 GiB with it, the run 9% slower; on medium a 1 MiB
  threshold made the run 3.1x slower).

`ACDC_TUI_MALLOC=glibc` leaves glibc as it is; a `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_`
of the user's own wins.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import time
from enum import Enum

ENV = "ACDC_TUI_MALLOC"
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers
MMAP_THRESHOLD = 4 << 20  # bytes: blocks of this size and more are mapped on their own
MIN_ACTIVATION_BYTES = 1 << 20  # GPT-2 small with IOI-sized data: 50 x 15 x 768 x 4 B = 2.2 MiB
STEADY_MMAP_THRESHOLD = 32 << 20  # glibc's own ceiling for its moving threshold
STEADY_TRIM_THRESHOLD = 256 << 20  # free bytes the heap may keep at its top between evaluations
USER_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


class HeapMode(str, Enum):
    """What `fit_to_work` did to glibc's allocator."""

    GLIBC = "glibc"  # left as it is (not glibc, the GPU, the user's own setting, or ACDC_TUI_MALLOC=glibc)
    STEADY = "steady"  # small activations: blocks up to 32 MiB from a heap that keeps its free top
    MMAP = "mmap"  # opt-in for large activations: blocks of 4 MiB and more mapped and unmapped on their own


def chosen_mode() -> str:
    """ACDC_TUI_MALLOC as given: '' (ours to choose), 'mmap' or 'glibc'; anything else is a UserError."""
    from acdc_tui.core.errors import UserError

    setting = os.environ.get(ENV, "").strip().lower()
    if setting not in ("", HeapMode.MMAP.value, HeapMode.GLIBC.value):
        raise UserError(f"{ENV}={os.environ[ENV]!r} is not an allocator setting: set it to 'mmap' (return freed memory at once) or 'glibc' (glibc as it is), or unset it")
    return setting


def fit_to_work(activation_bytes: int, device: str = "cpu") -> HeapMode:
    """Fit glibc's allocator to the run's activations (float32 bytes of batch x positions x d_model).

    Small activations (under 1 MiB): a steady heap. glibc's moving mmap threshold and the trim that
    follows it leave such a run either serving its tensors from the heap or mapping, faulting in and
    unmapping them at every evaluation, depending on what setup happened to free: the medium fixture's
    run took 18.8 s or 38.8 s, and `plan` timed the same evaluations 2x apart from one process to the
    next. Fixed thresholds make it the fast case every time (docs/cost.md). Large activations keep
    glibc's default and `trim_now_and_then`, whose peak memory is measured (or, opt-in, `mmap`)."""
    setting = chosen_mode()
    if device != "cpu" or setting == HeapMode.GLIBC.value or any(name in os.environ for name in USER_VARIABLES):
        return HeapMode.GLIBC
    if activation_bytes >= MIN_ACTIVATION_BYTES:
        return HeapMode.MMAP if setting == HeapMode.MMAP.value and _mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) else HeapMode.GLIBC
    if _mallopt(M_MMAP_THRESHOLD, STEADY_MMAP_THRESHOLD) and _mallopt(M_TRIM_THRESHOLD, STEADY_TRIM_THRESHOLD):
        return HeapMode.STEADY
    return HeapMode.GLIBC


def _mallopt(parameter: int, value: int) -> bool:
    """glibc's mallopt; False where it does not apply (not Linux/glibc)."""
    libc = _glibc()
    if not libc or not hasattr(libc, "mallopt"):
        return False
    return bool(libc.mallopt(parameter, value))


TRIM_INTERVAL_S = 2.0  # at most one malloc_trim every this many seconds
_libc = None
_last_trim = 0.0


def _glibc():
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6") if sys.platform.startswith("linux") else False
            if _libc and not hasattr(_libc, "malloc_trim"):
                _libc = False
        except OSError:
            _libc = False
    return _libc


def trim_now_and_then(activation_bytes: int, device: str = "cpu") -> bool:
    """Give the free pages inside glibc's heaps back to the system (malloc_trim), at most every
    TRIM_INTERVAL_S, for runs whose activations are large enough to fragment the heap (CPU only).
    The default allocator otherwise keeps, in the holes between live blocks, what one evaluation
    from a low layer freed, and resident memory creeps up over a run (docs/cost.md)."""
    global _last_trim
    if device != "cpu" or activation_bytes < MIN_ACTIVATION_BYTES:
        return False
    now = time.monotonic()
    if now - _last_trim < TRIM_INTERVAL_S:
        return False
    libc = _glibc()
    if not libc:
        return False
    _last_trim = now
    libc.malloc_trim(0)
    return True
