"""`acdc-tui serve`: the explorer over textual-serve, checked over a raw websocket and in headless Chromium."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import re
import subprocess
import sys
import threading
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
    """`acdc-tui serve --port P ARGS` in its own process group; once it answers, yields the base URL,
    the process and the token its printed URL carries (None with --no-token). `proc.lines` is its output so far."""
    port = free_port()
    proc = subprocess.Popen([*ACDC, "serve", "--port", str(port), *args], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    proc.lines = []
    threading.Thread(target=lambda: proc.lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 120
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert proc.poll() is None, f"serve exited: {''.join(proc.lines)}"
                assert time.monotonic() < end, "serve did not start listening in 120 s"
                time.sleep(0.2)
        printed = next(line for line in proc.lines if "serving the explorer at" in line)
        match = re.search(r"\?token=([-\w.]+)", printed)
        yield url, proc, (match.group(1) if match else None)
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
            async with http.get(f"{url}/?token={token}", headers={"Host": "localhost:9000"}) as page:
                html = await page.text()
            assert page.status == 200 and f'data-session-websocket-url="ws://localhost:9000/ws/{token}"' in html
            assert "http://localhost:9000/static/" in html
            async with http.ws_connect(f"{url}/ws/{token}?width=120&height=40") as ws:
                await receive_until(ws, ["acdc-tui (file)", "Overview", "inputs"], timeout=120)
                await ws.send_str(json.dumps(["stdin", "3"]))  # a key press reaches the app: the Details tab
                await receive_until(ws, ["Select a hook point or an edge"], timeout=60)

    with serving(str(circuit_json)) as (url, proc, token):
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

    with serving("--task", "tracr-reverse") as (url, _, token):
        asyncio.run(browse(url.replace("127.0.0.1", "localhost") + f"/?token={token}"))  # the printed, tokenized URL
    assert shot.stat().st_size > 20_000  # a drawn screen, not the blank loading page


def _session_processes(sid: int) -> list[int]:
    """Live (not zombie) processes of the session `serve` was started in: the server and its explorers."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            pids.append(int(entry.name))
    return pids


async def _status(http, method: str, url: str, **kw) -> int:
    async with http.request(method, url, **kw) as r:
        await r.read()
        return r.status


async def _ws_status(http, url: str, **kw) -> int:
    try:
        async with http.ws_connect(url, **kw):
            return 101
    except aiohttp.WSServerHandshakeError as e:
        return e.status


def test_serve_token_host_origin_cap_malformed_and_no_orphans(circuit_json):
    """Issue 20: the token (page, static, websocket), Host and Origin checks, the session cap,
    malformed messages dropped in one log line, and no explorer outlives the server."""

    async def probe(url: str, token: str, proc) -> None:
        port = url.rsplit(":", 1)[1]
        async with aiohttp.ClientSession() as http:
            # without the token: 403 everywhere
            assert await _status(http, "GET", f"{url}/") == 403
            assert await _status(http, "GET", f"{url}/?token=wrong{token}") == 403
            assert await _status(http, "GET", f"{url}/static/css/xterm.css") == 403
            assert await _ws_status(http, f"{url}/ws?width=80&height=24") == 403
            assert await _ws_status(http, f"{url}/ws/not-the-token?width=80&height=24") == 403
            # DNS rebinding: the token, but a Host that is not this machine
            assert await _status(http, "GET", f"{url}/?token={token}", headers={"Host": f"evil.example:{port}"}) == 403
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:  # unsafe: keep cookies of 127.0.0.1, as browsers do
            # with it: the page, then its static files by the cookie the page set
            async with http.get(f"{url}/?token={token}") as page:
                assert page.status == 200 and page.cookies
            assert await _status(http, "GET", f"{url}/static/css/xterm.css") == 200
            # another site's page opening the websocket: refused
            assert await _ws_status(http, f"{url}/ws/{token}?width=80&height=24", origin="http://evil.example") == 403
            assert await _ws_status(http, f"{url}/ws/{token}?width=80&height=24", headers={"Host": f"localhost:{port}"}, origin=f"http://localhost:{port}") == 101
        async with aiohttp.ClientSession() as http:
            end = time.monotonic() + 30
            while True:  # the last tab's explorer may still be ending: the cap frees once it has
                try:
                    ws = await http.ws_connect(f"{url}/ws/{token}?width=100&height=30", origin=url)
                    break
                except aiohttp.WSServerHandshakeError as e:
                    assert e.status == 503 and time.monotonic() < end, "the cap never freed after a tab closed"
                    await asyncio.sleep(0.5)
            async with ws:
                await receive_until(ws, ["Overview"], timeout=120)
                # the cap (--max-sessions 1): a second explorer is refused while this one is open
                assert await _ws_status(http, f"{url}/ws/{token}?width=80&height=24") == 503
                for bad in ("not json", "{}", "[]", "[5]", '["stdin", 5]', '["resize", {"width": "x"}]', '["resize", 3]', '["nope", 1]'):
                    await ws.send_str(bad)
                await ws.send_str(json.dumps(["ping", "alive"]))
                got = ""
                end = time.monotonic() + 30
                while '["pong", "alive"]' not in got.replace(",", ", ").replace(",  ", ", "):
                    assert time.monotonic() < end, "no pong after the malformed messages: the session died"
                    m = await ws.receive(timeout=30)
                    if m.type == aiohttp.WSMsgType.TEXT:
                        got += m.data
            # a 1 MB header: refused, one log line
            reader, writer = await asyncio.open_connection("127.0.0.1", int(port))
            writer.write(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
            try:
                await writer.drain()
                await asyncio.wait_for(reader.read(100), timeout=10)
            except (ConnectionError, asyncio.TimeoutError):
                pass
            writer.close()

    with serving(str(circuit_json), "--max-sessions", "1") as (url, proc, token):
        assert token and len(token) >= 20
        printed = "".join(proc.lines)
        assert f"http://localhost:{url.rsplit(':', 1)[1]}/?token={token}" in printed and "ssh -L" in printed
        asyncio.run(probe(url, token, proc))
        time.sleep(1)
        explorers = [p for p in _session_processes(proc.pid) if p != proc.pid]
        # one explorer still open? (the session above closed; keep one open to see it end with the server)

        async def hold() -> None:
            async with aiohttp.ClientSession() as http:
                async with http.ws_connect(f"{url}/ws/{token}?width=80&height=24") as ws:
                    await receive_until(ws, ["Overview"], timeout=120)
                    assert len([p for p in _session_processes(proc.pid) if p != proc.pid]) >= 1
                    os.killpg(proc.pid, signal.SIGINT)  # Ctrl+C while a tab is open
                    proc.wait(timeout=30)

        asyncio.run(hold())
    time.sleep(0.5)
    assert _session_processes(proc.pid) == [], "an explorer outlived the server"
    out = "".join(proc.lines)
    assert "Traceback" not in out, out[-3000:]
    assert out.count("dropped a malformed websocket message") == 8
    assert "refused a websocket from Origin 'http://evil.example'" in out and "refused a request for Host 'evil.example" in out
    assert explorers == [] or all(p not in _session_processes(proc.pid) for p in explorers)


def test_serve_token_options(circuit_json):
    async def fetch(url: str, path: str) -> int:
        async with aiohttp.ClientSession() as http:
            return await _status(http, "GET", url + path)

    with serving(str(circuit_json), "--no-token") as (url, proc, token):
        assert token is None and "warning: --no-token" in "".join(proc.lines)
        assert asyncio.run(fetch(url, "/")) == 200
    chosen = "a-chosen-token-0123456789"
    with serving(str(circuit_json), "--token", chosen) as (url, proc, token):
        assert token == chosen
        assert asyncio.run(fetch(url, "/")) == 403 and asyncio.run(fetch(url, f"/?token={chosen}")) == 200
    for args, message in ((["--token", "short"], "--token must be 16 to 256"), (["--token", "x" * 20, "--no-token"], "--token and --no-token together")):
        p = acdc("serve", str(circuit_json), *args)
        assert p.returncode == 2 and message in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_a_paused_run_left_behind_by_serve_is_said_to_stay_paused(tmp_path):
    """Ctrl-C on `serve` leaves a run that has begun as it is: a paused one is told as paused, not as going on."""
    from acdc_tui.cli.commands.serve import _leave_run
    from acdc_tui.runs.journal.reader import JournalReader
    from acdc_tui.runs.journal.schema import CommandKind

    journal = tmp_path / "j.sqlite"
    run = subprocess.Popen([*ACDC, "run", "--task", "tracr-reverse", "--threshold", "0.01", "--paused", "--quiet", "--journal", str(journal), "--out", str(tmp_path / "c.json")],
                           cwd=ROOT, env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (journal.exists() and JournalReader(journal).status().get("mode") == "paused"):
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.1)
        reader = JournalReader(journal)
        reader.send(CommandKind.STEP_EDGE, None, "test")
        while reader.status().get("done", 0) == 0 or reader.status().get("mode") != "paused":
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.1)
        reader.close()
        import contextlib, io
        said = io.StringIO()
        with contextlib.redirect_stderr(said):
            _leave_run(journal)
        assert "stays paused" in said.getvalue() and "goes on" not in said.getvalue() and f"acdc-tui attach {journal}" in said.getvalue()
        assert JournalReader(journal).status().get("mode") == "paused" and run.poll() is None  # left as it was
    finally:
        run.kill()
        run.communicate()
