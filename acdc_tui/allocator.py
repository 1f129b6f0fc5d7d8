"""Opt-in (`ACDC_TUI_MALLOC=mmap`): large CPU tensors go straight back to the system when freed (glibc).

glibc serves allocations below its mmap threshold from its heap, and raises that threshold (up to
32 MiB) each time a larger block is freed; the fast engine's activation-sized tensors (2.2 to 80 MiB
at GPT-2 scale) change size from one evaluation to the next, so the heap can fragment and keep what
was freed. A fixed threshold (which also stops the raising) maps each block above it on its own and
unmaps it when freed. Measured on a GPT-2-small-shaped run (IOI-sized data, τ 0.05, CPU): peak
resident memory 13.5 GiB with glibc's default and 11.2 GiB with a 4 MiB threshold, the whole run
1,067 s and 1,162 s (9% slower: `benchmarks/gpt2_scale.py --run gpt2-small` without and with
`ACDC_TUI_MALLOC=mmap`); on the medium fixture `MALLOC_MMAP_THRESHOLD_=1048576` made the run 3.1x slower. The trade is the user's: off by default, `ACDC_TUI_MALLOC=mmap` sets
4 MiB for runs whose activations [batch, pos, d_model] are 1 MiB or more on the CPU (on a machine
short of memory). A `MALLOC_MMAP_THRESHOLD_` of the user's own wins.
(Those peaks were measured before the fast engine freed each forward's tensors at its return; with
that and `trim_now_and_then` below, the same run peaks at 1.38x its after-setup memory on the
default allocator: docs/cost.md.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import time

ENV = "ACDC_TUI_MALLOC"
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
MMAP_THRESHOLD = 4 << 20  # bytes: blocks of this size and more are mapped on their own
MIN_ACTIVATION_BYTES = 1 << 20  # GPT-2 small with IOI-sized data: 50 x 15 x 768 x 4 B = 2.2 MiB


def fit_to_work(activation_bytes: int, device: str = "cpu") -> bool:
    """With `ACDC_TUI_MALLOC=mmap`, apply the threshold when the run's activations are large enough to fragment the heap."""
    if os.environ.get(ENV, "").strip().lower() == "mmap" and device == "cpu" and activation_bytes >= MIN_ACTIVATION_BYTES:
        return return_freed_memory()
    return False


def return_freed_memory() -> bool:
    """Set glibc's mmap threshold; False where it does not apply (not Linux/glibc, or the user's own setting)."""
    if not sys.platform.startswith("linux"):
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False


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
