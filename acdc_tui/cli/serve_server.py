"""The web server behind `acdc-tui serve`: textual-serve, guarded (docs/security.md).

* A secret token per server (as Jupyter does): the page, its static files, downloads and the
  websocket answer HTTP 403 without it. The printed URL carries it as `?token=`; the page then sets
  an HttpOnly, SameSite=Strict cookie so its static files and websocket carry it too, and the
  websocket URL names it in its path (`/ws/TOKEN`).
* Every request's `Host` must name this machine (an IP address, `localhost`, the machine's own
  names or the `--host` given): a page on `evil.example` that DNS-rebinds to 127.0.0.1 gets 403.
  A websocket's `Origin`, when sent (browsers always send it), must be the page's own origin
  (`http://` + the same Host): another site's page in the user's browser gets 403.
* At most `max_sessions` explorers at once (each is a process of the serving user): then 503.
* A malformed websocket message is dropped with one log line; a bad request (a 1 MB header) is one
  log line, never a traceback.
* Every explorer process the server started ends with it (SIGTERM, then SIGKILL after 5 s).
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import os
import signal
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

log = logging.getLogger("textual-serve")
COOKIE = "acdc_tui_token"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def _hostname(host_header: str) -> str:
    """`name:port`, `[::1]:port` or `name` -> the name, lower case."""
    try:
        return (urlsplit(f"//{host_header}").hostname or "").lower()
    except ValueError:
        return ""


class _OneLine(logging.Filter):
    """aiohttp logs a bad request (an oversized header, a broken handshake) with its traceback: keep one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            e = record.exc_info[1]
            record.msg = f"{record.getMessage()}: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}".rstrip(": ")
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


class GuardedServer(Server):
    def __init__(self, command: str, *, host: str, port: int, token: str | None, max_sessions: int, title: str, public_url: str) -> None:
        super().__init__(command, host=host, port=port, title=title, public_url=public_url)
        self.token = token
        self.max_sessions = max_sessions
        self.services: set[AppService] = set()
        self.processes: set[asyncio.subprocess.Process] = set()
        names = {"localhost", "localhost.localdomain", host.lower()}
        for name in (socket.gethostname(), socket.getfqdn()):
            names.add(name.lower())
        self.names = names

    # --- the checks -------------------------------------------------------------------------

    def host_allowed(self, host_header: str | None) -> bool:
        name = _hostname(host_header or "")
        return bool(name) and (_is_ip(name) or name in self.names)

    def origin_allowed(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # not a browser: the token alone guards it
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        return parts.scheme in ("http", "https") and parts.netloc.lower() == (request.host or "").lower() and self.host_allowed(parts.netloc)

    def token_given(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        given = [request.query.get("token", "")]
        if request.path.startswith("/ws/"):
            given.append(request.path[len("/ws/") :])
        given += [v for k, v in request.cookies.items() if k.startswith(COOKIE)]
        return any(hmac.compare_digest(g.encode(), self.token.encode()) for g in given if g)

    @web.middleware
    async def guard(self, request: web.Request, handler):
        if not self.host_allowed(request.headers.get("Host")):
            log.warning("refused a request for Host %r (not this machine's name: DNS rebinding?)", (request.headers.get("Host") or "")[:100])
            return web.Response(status=403, text="403: this server answers only to this machine's own names and addresses\n")
        if not self.token_given(request):
            return web.Response(status=403, text="403: open the URL acdc-tui serve printed, with its ?token=\n")
        response = await handler(request)
        if self.token is not None and request.path == "/" and request.query.get("token") and isinstance(response, web.StreamResponse) and not response.prepared:
            response.set_cookie(f"{COOKIE}_{self.port}", self.token, httponly=True, samesite="Strict", path="/")
        return response

    # --- the app ----------------------------------------------------------------------------

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self.guard)
        app.router.add_get("/ws/{token}", self.handle_websocket)
        app.on_shutdown.append(self._end_explorers)
        return app

    def initialize_logging(self) -> None:
        super().initialize_logging()
        for name in ("aiohttp.server", "aiohttp.web", "aiohttp.access", "aiohttp.websocket", "textual-serve", "asyncio"):
            logging.getLogger(name).addFilter(_OneLine())

    async def handle_index(self, request: web.Request):
        # page, static and websocket URLs from the address the browser used, so a tunnel to any
        # local port works (ssh -L 9000:localhost:8000); the Host was checked above.
        self.public_url = f"{request.scheme}://{request.host}"
        response = await super().handle_index(request)
        if self.token is not None:
            body = response.text.replace(f'data-session-websocket-url="{"ws" if request.scheme == "http" else "wss"}://{request.host}/ws"', f'data-session-websocket-url="{"ws" if request.scheme == "http" else "wss"}://{request.host}/ws/{self.token}"')
            response.text = body
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:
        if not self.origin_allowed(request):
            log.warning("refused a websocket from Origin %r (not this page's own)", request.headers.get("Origin", "")[:100])
            return web.Response(status=403, text="403: a websocket from another site's page\n")
        if len(self.services) >= self.max_sessions:
            log.warning("refused a session: %d explorers already open (--max-sessions)", len(self.services))
            return web.Response(status=503, text=f"503: {self.max_sessions} explorers are open already; close a tab (or raise --max-sessions)\n")
        websocket = web.WebSocketResponse(heartbeat=15, max_msg_size=1 << 20)
        width = min(max(to_int(request.query.get("width", "80"), 80), 10), 1000)
        height = min(max(to_int(request.query.get("height", "24"), 24), 5), 500)
        service: AppService | None = None
        try:
            await websocket.prepare(request)
            service = AppService(self.command, write_bytes=websocket.send_bytes, write_str=websocket.send_str, close=websocket.close, download_manager=self.download_manager, debug=self.debug)
            self.services.add(service)
            await service.start(width, height)
            if service._process is not None:
                self.processes.add(service._process)
            try:
                await self._process_messages(websocket, service)
            finally:
                await self._stop(service)
        except asyncio.CancelledError:
            await websocket.close()
        except Exception as error:  # one line, never a traceback
            log.warning("session ended: %s: %s", type(error).__name__, str(error)[:200])
        finally:
            if service is not None:
                await self._stop(service)
                self.services.discard(service)
        return websocket

    async def _stop(self, service: AppService) -> None:
        try:
            await asyncio.wait_for(service.stop(), timeout=5)
        except (asyncio.TimeoutError, Exception):
            pass
        process = service._process
        if process is not None and process.returncode is None:
            await _end(process)
        if process is not None:
            self.processes.discard(process)

    async def _process_messages(self, websocket: web.WebSocketResponse, app_service: AppService) -> None:
        """textual-serve's loop, each message checked: a malformed one is dropped with one log line."""
        async for message in websocket:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                envelope = json.loads(message.data)
                if not (isinstance(envelope, list) and envelope and isinstance(envelope[0], str)):
                    raise ValueError("not a [type, data] list")
                kind = envelope[0]
                data = envelope[1] if len(envelope) > 1 else None
                if kind == "stdin":
                    if not isinstance(data, str):
                        raise ValueError("stdin data is not a string")
                    await app_service.send_bytes(data.encode("utf-8", "replace"))
                elif kind == "resize":
                    if not (isinstance(data, dict) and all(isinstance(data.get(k), int) and not isinstance(data.get(k), bool) for k in ("width", "height"))):
                        raise ValueError("resize data is not {width, height} integers")
                    await app_service.set_terminal_size(min(max(data["width"], 10), 1000), min(max(data["height"], 5), 500))
                elif kind == "ping":
                    await websocket.send_json(["pong", data if isinstance(data, (str, int, float)) else None])
                elif kind == "blur":
                    await app_service.blur()
                elif kind == "focus":
                    await app_service.focus()
                else:
                    raise ValueError(f"unknown message type {kind[:40]!r}")
            except (ValueError, TypeError, KeyError, UnicodeError) as e:
                log.warning("dropped a malformed websocket message (%s)", str(e)[:120])

    async def _end_explorers(self, app: web.Application) -> None:
        for service in list(self.services):
            try:
                await asyncio.wait_for(service.send_meta({"type": "quit"}), timeout=1)
            except Exception:
                pass
        await asyncio.gather(*(_end(p) for p in list(self.processes)), return_exceptions=True)

    def serve(self, debug: bool = False) -> None:
        try:
            super().serve(debug)
        finally:
            _kill_left(self.processes)


async def _end(process: asyncio.subprocess.Process, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds."""
    if process.returncode is not None:
        return
    try:
        process.terminate()
    except ProcessLookupError:
        return
    try:
        await asyncio.wait_for(process.wait(), timeout=grace)
    except asyncio.TimeoutError:
        try:
            process.kill()
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(process.wait(), timeout=grace)
        except asyncio.TimeoutError:
            pass


def _kill_left(processes: set[Any]) -> None:
    """After the loop stopped: any explorer still there is killed (no orphans)."""
    for p in processes:
        if getattr(p, "returncode", 0) is not None:
            continue
        try:
            os.kill(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError, AttributeError):
            pass
