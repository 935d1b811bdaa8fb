"""A local webhook receiver for the alert tests (127.0.0.1, a free port)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """Collects the JSON bodies POSTed to it, with the monotonic time of arrival."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((time.monotonic(), json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def bodies(self, status: str | None = None) -> list[dict]:
        """What arrived (only ``firing`` or ``resolved`` ones when asked)."""
        return [b for _, b in self.received if status is None or b["status"] == status]

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()
