"""Thread settings (acdc_tui/threads.py): passive OpenMP waiting before torch starts, a thread count
for the work size, the user's own settings honoured; checked in real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys

from acdc_tui.threads import ELEMENTS_PER_THREAD, threads_for

THREAD_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "ACDC_TUI_THREADS")


def run_python(code: str, cwd, **env_settings: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env.update(env_settings)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def after_run(tmp_path, **env_settings: str) -> subprocess.CompletedProcess:
    """A tracr-reverse run through the CLI's main, then the wait policy and torch's thread count."""
    tmp_path = tmp_path / ("-".join(f"{k}={v}" for k, v in env_settings.items()) or "defaults")
    tmp_path.mkdir()
    code = (
        "import os, sys\n"
        "from acdc_tui.cli.main import main\n"
        f"rc = main(['run', '--task', 'tracr-reverse', '--threshold', '0.01', '--quiet', '--out', {str(tmp_path / 'c.json')!r}, '--journal', {str(tmp_path / 'j.journal')!r}])\n"
        "import torch\n"
        "print(rc, os.environ.get('OMP_WAIT_POLICY'), torch.get_num_threads())\n"
    )
    return run_python(code, tmp_path, **env_settings)


def test_thread_count_follows_the_work_size():
    assert threads_for(6 * 5 * 41, cores=16) == 1  # tracr
    assert threads_for(20 * 24 * 256, cores=16) == 1  # medium
    assert threads_for(50 * 15 * 768, cores=16) == 2  # GPT-2 small, IOI-sized data
    assert threads_for(100 * 64 * 4096, cores=16) == 16  # never more than the cores
    assert threads_for(ELEMENTS_PER_THREAD * 3, cores=2) == 2


def test_passive_waiting_and_one_thread_for_a_small_task(tmp_path):
    done = after_run(tmp_path)
    assert done.stdout.split()[-3:] == ["0", "PASSIVE", "1"], done.stdout + done.stderr


def test_the_users_settings_win(tmp_path):
    done = after_run(tmp_path, OMP_WAIT_POLICY="ACTIVE", OMP_NUM_THREADS="1")  # one thread: nothing spins
    assert done.stdout.split()[-3:] == ["0", "ACTIVE", "1"], done.stdout + done.stderr
    done = after_run(tmp_path, OMP_NUM_THREADS="2")
    assert done.stdout.split()[-3:] == ["0", "PASSIVE", "2"], done.stdout + done.stderr
    done = after_run(tmp_path, ACDC_TUI_THREADS="2")
    assert done.stdout.split()[-3:] == ["0", "PASSIVE", "2"], done.stdout + done.stderr
    done = run_python("import os, acdc_tui; print(os.environ.get('OMP_WAIT_POLICY'))", tmp_path, ACDC_TUI_THREADS="torch")
    assert done.stdout.split() == ["None"], done.stdout + done.stderr


def test_torch_imported_first_is_left_alone(tmp_path):
    done = run_python("import os, torch; torch.set_num_threads(2); import acdc_tui; print(os.environ.get('OMP_WAIT_POLICY'))", tmp_path)
    assert done.stdout.split() == ["None"], done.stdout + done.stderr


def test_a_bad_thread_count_is_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "acdc_tui", "run", "--task", "tracr-reverse", "--threshold", "0.01", "--quiet", "--out", str(tmp_path / "c.json")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300, env={**os.environ, "ACDC_TUI_THREADS": "many"},
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == ["acdc-tui: error: ACDC_TUI_THREADS='many' is not a thread count: set it to a positive whole number, or to 'torch' to keep torch's own settings"]


def test_the_allocator_mode_follows_the_activations_and_the_users_settings(monkeypatch):
    """Small CPU activations get the steady heap; large ones glibc's default, or the mmap opt-in; the GPU,
    ACDC_TUI_MALLOC=glibc and a MALLOC_*_THRESHOLD_ of the user's own leave glibc alone."""
    import pytest

    from acdc_tui import allocator
    from acdc_tui.allocator import HeapMode
    from acdc_tui.core.errors import UserError

    if not sys.platform.startswith("linux"):
        pytest.skip("glibc only")
    for name in (allocator.ENV, *allocator.USER_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    big = allocator.MIN_ACTIVATION_BYTES
    assert allocator.fit_to_work(big - 1) is HeapMode.STEADY
    assert allocator.fit_to_work(big) is HeapMode.GLIBC and allocator.fit_to_work(1, "cuda") is HeapMode.GLIBC
    monkeypatch.setenv(allocator.ENV, "mmap")
    assert allocator.fit_to_work(big) is HeapMode.MMAP
    monkeypatch.setenv(allocator.ENV, "glibc")
    assert allocator.fit_to_work(1) is HeapMode.GLIBC
    monkeypatch.setenv(allocator.ENV, "jemalloc")
    with pytest.raises(UserError, match="ACDC_TUI_MALLOC='jemalloc' is not an allocator setting"):
        allocator.fit_to_work(1)
    monkeypatch.delenv(allocator.ENV)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")  # the user's own glibc setting wins
    assert allocator.fit_to_work(1) is HeapMode.GLIBC


STEADY_PROBE = """
import ctypes, torch
from acdc_tui import allocator
def rss():
    return int(next(line for line in open('/proc/self/status') if line.startswith('VmRSS')).split()[1]) * 1024
mode = allocator.fit_to_work({activation})
block = torch.ones(2 ** 21)  # 8 MiB, every page touched
before = rss()
del block
print(mode.value, (before - rss()) >> 20)
"""


def test_a_steady_heap_keeps_a_freed_block_that_glibc_would_unmap(tmp_path):
    """The real allocator, in a process of its own: after the steady heap's setting an 8 MiB tensor comes
    from the heap and stays resident when freed (the next evaluation reuses it without faulting it in
    again); on glibc's default (large activations) it is mapped on its own and unmapped when freed."""
    import pytest

    if not sys.platform.startswith("linux"):
        pytest.skip("glibc only")
    steady = run_python(STEADY_PROBE.format(activation=1000), tmp_path)
    default = run_python(STEADY_PROBE.format(activation=1 << 30), tmp_path)
    assert steady.stdout.split() == ["steady", "0"], steady.stdout + steady.stderr
    assert default.stdout.split() == ["glibc", "8"], default.stdout + default.stderr
