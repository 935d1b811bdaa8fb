"""The explorer's web app (Starlette): the page, its scripts, and one JSON view per page.

Read-only (GET only; run files opened read-only), every run addressed by a name from
:class:`vpp.runs.explorer.catalog.Catalog`, a content security policy that lets the page
load and connect to its own origin only, and a Host check so that a web page elsewhere
cannot reach a loopback server through DNS rebinding.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sqlite3
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from vpp.agents.runtime.trace_reader import TraceError
from vpp.runs.explorer import assets, sequence, studies, views
from vpp.runs.explorer.catalog import Catalog, UnknownRun
from vpp.runs.explorer.record import RecordError, RunRecord

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder(enc_hook=str)

READ_ERRORS = (RecordError, TraceError, sqlite3.DatabaseError, zlib.error, msgspec.DecodeError)
"""What reading a damaged or foreign run may raise: answered as a 422 naming the run."""

SECURITY_HEADERS = {"Content-Security-Policy": assets.SERVER_CSP,
                    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "X-Frame-Options": "DENY", "Cache-Control": "no-store"}


class JSON(Response):
    """A JSON response encoded by msgspec (non-finite floats as null)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return _encoder.encode(content)


STEP_EVENTS_SHOWN = 50_000
"""The most events a step's page draws: the oldest, the rest counted (``events_in_step``).
A step of a 1,000-site merit order holds about 8,000; one of 100,000 sites at the full
trace 400,000, whose bodies would be a JSON of hundreds of MB for the browser to draw."""


def view_data(record: RunRecord, view: str, arg: str | None = None) -> Any:
    """The JSON-able data of one view of a run (the same for the server and the export)."""
    if view == "card":
        return views.card(record)
    if view == "overview":
        return views.overview(record)
    if view == "steps":
        return {"steps": [[k, n] for k, n in record.step_numbers().items()],
                "trace_note": record.trace_level()["note"]}
    if view == "step":
        step = int(arg or 0)
        shown = record.step_messages(step, limit=STEP_EVENTS_SHOWN)
        return {**sequence.negotiation(step, shown),
                "events_in_step": record.step_numbers().get(step, len(shown)),
                "trace_note": record.trace_level()["note"],
                "unrecorded": record.unrecorded(step)}
    if view == "admm":
        return studies.admm(record, arg)
    if view == "grid":
        return studies.grid(record)
    if view == "voltage":
        return studies.voltage(record)
    if view == "market":
        return studies.market(record)
    raise KeyError(view)


class _Cache:
    """The last views computed, keyed by run, view, argument and the run's version."""

    def __init__(self, size: int = 48) -> None:
        self.size = size
        self.items: OrderedDict[tuple, bytes] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple, make: Callable[[], Any]) -> bytes:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = _encoder.encode(make())
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


def create_app(roots: list[Path], *, allowed_hosts: list[str] | None = None) -> Starlette:
    """The explorer app over the runs found in ``roots``.

    Args:
        roots: run directories, or folders holding them.
        allowed_hosts: Host header values accepted (default: loopback names only).
    """
    catalog = Catalog(roots)
    cache = _Cache()

    def error(status: int, message: str) -> Response:
        return JSON({"error": message}, status_code=status, headers=SECURITY_HEADERS)

    async def index(request: Request) -> Response:
        return HTMLResponse(assets.page(), headers=SECURITY_HEADERS)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        try:
            body = assets.asset(name)
        except KeyError:
            return error(404, f"no static file {name!r}")
        return Response(body, media_type=assets.ASSETS[name],
                        headers={**SECURITY_HEADERS, "Cache-Control": "max-age=3600"})

    def runs(request: Request) -> Response:
        out = []
        for record in catalog.scan():
            try:
                out.append(views.card(record))
            except READ_ERRORS as exc:
                out.append({"name": record.name, "mode": "unreadable", "scenario": None,
                            "date": record.modified().isoformat(timespec="seconds"),
                            "finished": False, "pages": [], "headline": [["error", str(exc), ""]]})
        return JSON(out, headers=SECURITY_HEADERS)

    def run_view(request: Request) -> Response:
        name, view = request.path_params["name"], request.path_params["view"]
        arg = request.path_params.get("arg") or request.query_params.get("conversation")
        try:
            record = catalog.get(name)
            if view == "version":
                return JSON({"version": record.version(), "finished": record.has("summary.json")},
                            headers=SECURITY_HEADERS)
            if view == "step" and not (arg or "").isdigit():
                return error(400, f"step: expected a whole number, got {arg!r}")
            body = cache.get((name, view, arg, record.version()),
                             lambda: view_data(record, view, arg))
            if view == "overview":  # once the overview is out, index the steps
                record.prepare()
        except UnknownRun:
            return error(404, f"no run named {name!r} in the folders served")
        except KeyError:
            return error(404, f"no view {view!r}")
        except READ_ERRORS as exc:
            log.warning("run %s, view %s: %s", name, view, exc)
            return error(422, f"run {name!r} cannot be read: {exc}")
        return Response(body, media_type="application/json", headers=SECURITY_HEADERS)

    def compare(request: Request) -> Response:
        a, b = request.path_params["a"], request.path_params["b"]
        try:
            ra, rb = catalog.get(a), catalog.get(b)
            body = cache.get(("compare", a, b, ra.version(), rb.version()),
                             lambda: views.compare(ra, rb))
        except UnknownRun as exc:
            return error(404, f"no run named {exc.args[0]!r} in the folders served")
        except READ_ERRORS as exc:
            return error(422, f"cannot compare {a!r} with {b!r}: {exc}")
        return Response(body, media_type="application/json", headers=SECURITY_HEADERS)

    routes = [
        Route("/", index),
        Route("/static/{name}", static),
        Route("/api/runs", runs),
        Route("/api/run/{name}/{view}", run_view),
        Route("/api/run/{name}/{view}/{arg}", run_view),
        Route("/api/compare/{a}/{b}", compare),
    ]
    hosts = allowed_hosts or ["127.0.0.1", "localhost", "[::1]"]
    return Starlette(routes=routes, middleware=[
        Middleware(TrustedHostMiddleware, allowed_hosts=hosts)])


def exposed(host: str) -> bool:
    """Whether binding ``host`` lets other machines connect (anything but loopback)."""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return True


class ExplorerServer:
    """The app under uvicorn in a thread, on a socket bound before it starts (so that
    port 0 gives a free port that is known at once).

    Args:
        roots: run directories, or folders holding them.
        host: the address to bind (loopback by default).
        port: the port (0: any free one).
    """

    def __init__(self, roots: list[Path], host: str = "127.0.0.1", port: int = 0) -> None:
        import uvicorn

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.host, self.port = host, self.socket.getsockname()[1]
        allowed = ["127.0.0.1", "localhost", "[::1]", host] if not exposed(host) else ["*"]
        app = create_app(roots, allowed_hosts=allowed)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The address to open in a browser."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def run(self) -> None:
        """Serve until interrupted (Ctrl-C)."""
        self.server.run(sockets=[self.socket])

    def start(self) -> ExplorerServer:
        """Serve in a background thread; returns once the server accepts connections."""
        self._thread = threading.Thread(target=self.run, name="explorer", daemon=True)
        self._thread.start()
        for _ in range(500):
            if self.server.started:
                return self
            self._thread.join(0.01)
        raise RuntimeError("the explorer server did not start within 5 s")

    def stop(self) -> None:
        """Stop a server started with :meth:`start`."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.socket.close()
