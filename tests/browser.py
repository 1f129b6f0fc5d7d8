"""Drive a headless Chromium over the DevTools protocol: load a page, wait for text, take a screenshot.

Only what the serve test needs. The page's websocket traffic is recorded by a script injected before
the page loads, so a test can wait until the explorer's screen has reached the browser (the terminal
itself draws on a canvas, which has no text to read).
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import time
from pathlib import Path

import aiohttp

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Keep every text the page's websockets receive, decoded, in window.__received.
RECORD_WEBSOCKETS = """
window.__received = [];
const Native = window.WebSocket;
window.WebSocket = function (...args) {
  const ws = new Native(...args);
  const decoder = new TextDecoder();
  ws.addEventListener("message", (event) => {
    const data = event.data;
    if (typeof data === "string") window.__received.push(data);
    else if (data instanceof ArrayBuffer) window.__received.push(decoder.decode(data));
    else if (data && data.arrayBuffer) data.arrayBuffer().then((b) => window.__received.push(decoder.decode(b)));
  });
  return ws;
};
window.WebSocket.prototype = Native.prototype;
Object.assign(window.WebSocket, Native);
"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """One headless Chromium with its own profile directory; `async with`."""

    def __init__(self, profile: Path, size: tuple[int, int] = (1400, 900)) -> None:
        self.profile, self.size = profile, size
        self.process: subprocess.Popen | None = None
        self._session: aiohttp.ClientSession | None = None
        self._ws = None
        self._next_id = 0

    async def __aenter__(self) -> "Browser":
        exe = chromium()
        assert exe, "chromium is not installed"
        self.process = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={self.profile}", f"--window-size={self.size[0]},{self.size[1]}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        port_file = self.profile / "DevToolsActivePort"
        end = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            assert time.monotonic() < end, "chromium did not open its DevTools port"
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        self._session = aiohttp.ClientSession()
        async with self._session.get(f"http://127.0.0.1:{port}/json/list") as response:
            pages = [t for t in await response.json() if t["type"] == "page"]
        self._ws = await self._session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        await self.call("Page.enable")
        await self.call("Page.addScriptToEvaluateOnNewDocument", source=RECORD_WEBSOCKETS)
        return self

    async def __aexit__(self, *exc) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)

    async def call(self, method: str, **params) -> dict:
        self._next_id += 1
        ident = self._next_id
        await self._ws.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads((await self._ws.receive()).data)
            if message.get("id") == ident:
                assert "error" not in message, message["error"]
                return message.get("result", {})

    async def evaluate(self, expression: str):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def open(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    async def wait_for_text(self, text: str, timeout: float) -> str:
        """Wait until the page's websockets have received `text`; returns all they received."""
        end = time.monotonic() + timeout
        while True:
            received = await self.evaluate("(window.__received || []).join('')") or ""
            if text in received:
                return received
            assert time.monotonic() < end, f"the page did not receive {text!r} in {timeout:.0f} s"
            await asyncio.sleep(0.25)

    async def press(self, key: str, code: str, key_code: int) -> None:
        """A key press into the page's terminal (its hidden text area takes the keyboard)."""
        await self.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
        await self.call("Input.dispatchKeyEvent", type="keyDown", key=key, code=code, text=key, windowsVirtualKeyCode=key_code)
        await self.call("Input.dispatchKeyEvent", type="keyUp", key=key, code=code, windowsVirtualKeyCode=key_code)

    async def screenshot(self, path: Path) -> None:
        result = await self.call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(result["data"]))
