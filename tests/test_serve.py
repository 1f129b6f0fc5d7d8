"""`acdc-tui serve`: the explorer over textual-serve, checked over a raw websocket and in headless Chromium."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

from tests.browser import Browser, chromium

ROOT = Path(__file__).resolve().parents[1]
ACDC = [sys.executable, "-m", "acdc_tui"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def acdc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*ACDC, *args], capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=300)


@contextmanager
def serving(*args: str):
    """`acdc-tui serve --port P ARGS` in its own process group; yields the base URL once it answers."""
    port = free_port()
    proc = subprocess.Popen([*ACDC, "serve", "--port", str(port), *args], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert proc.poll() is None, f"serve exited: {proc.stdout.read()}"
                assert time.monotonic() < end, "serve did not start listening in 60 s"
                time.sleep(0.2)
        yield url, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # the server, then the explorers it started
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(scope="module")
def circuit_json(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serve") / "circuit.json"
    assert acdc("run", "--task", "tracr-reverse", "--threshold", "0.01", "--quiet", "--out", str(out)).returncode == 0
    return out


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope.json"], "'nope.json' does not exist: give a run's journal, or a circuit file"),
        (["--port", "70000"], "port 70000 is out of range"),
        (["--task", "no-such-task"], "unknown task 'no-such-task'"),
        (["--headless"], "leave out --headless"),
    ],
)
def test_bad_input_is_one_line(args, message):
    proc = acdc("serve", *args)
    assert proc.returncode == 2 and message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_circuit_and_run_options_together_and_a_busy_port(circuit_json):
    proc = acdc("serve", str(circuit_json), "--threshold", "0.5")
    assert proc.returncode == 2 and "a journal, a circuit file or run options, not both: drop --threshold" in proc.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = acdc("serve", "--port", str(busy.getsockname()[1]), str(circuit_json))
    assert proc.returncode == 2 and "is in use: give another one with --port" in proc.stderr


async def receive_until(ws, texts: list[str], timeout: float) -> str:
    """Read the app's screen updates until every text in `texts` has arrived."""
    received = ""
    end = time.monotonic() + timeout
    while not all(t in received for t in texts):
        assert time.monotonic() < end, f"the explorer did not draw {texts} in {timeout:.0f} s; got {received[-500:]!r}"
        message = await ws.receive(timeout=max(0.1, end - time.monotonic()))
        if message.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
            received += message.data.decode(errors="replace") if isinstance(message.data, bytes) else message.data
        elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            raise AssertionError(f"the websocket closed early; got {received[-500:]!r}")
    return received


def test_serve_a_circuit_page_and_websocket(circuit_json):
    async def session(url: str) -> None:
        async with aiohttp.ClientSession() as http:
            # as a browser at the far end of `ssh -L 9000:localhost:PORT` asks: the page's websocket and
            # static URLs must name the port the browser used, not the server's own
            async with http.get(url, headers={"Host": "localhost:9000"}) as page:
                html = await page.text()
            assert page.status == 200 and 'data-session-websocket-url="ws://localhost:9000/ws"' in html
            assert "http://localhost:9000/static/" in html
            async with http.ws_connect(f"{url}/ws?width=120&height=40") as ws:
                await receive_until(ws, ["acdc-tui (file)", "Overview", "inputs"], timeout=120)
                await ws.send_str(json.dumps(["stdin", "3"]))  # a key press reaches the app: the Details tab
                await receive_until(ws, ["Select a hook point or an edge"], timeout=60)

    with serving(str(circuit_json)) as (url, proc):
        asyncio.run(session(url))
    assert proc.returncode == 0


@pytest.mark.skipif(chromium() is None, reason="chromium is not installed (Debian: apt-get install chromium): the browser check is skipped")
def test_the_explorer_in_headless_chromium(tmp_path):
    shot = tmp_path / "explorer.png"

    async def browse(url: str) -> None:
        profile = tmp_path / "profile"
        profile.mkdir()
        async with Browser(profile) as browser:
            await browser.open(url)
            await browser.wait_for_text("Overview", timeout=120)
            await browser.press(" ", "Space", 32)
            await browser.wait_for_text("FINISHED", timeout=120)  # space ran tracr-reverse to the end
            await asyncio.sleep(1)
            await browser.screenshot(shot)

    with serving("--task", "tracr-reverse") as (url, _):
        asyncio.run(browse(url.replace("127.0.0.1", "localhost")))
    assert shot.stat().st_size > 20_000  # a drawn screen, not the blank loading page
