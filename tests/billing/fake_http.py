"""A local HTTP server for tests: answers with the statuses it is given, records each request."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def fake_server(statuses: list[int] | None = None, default: int = 200, body: dict | None = None):
    """Yields (base_url, requests). Each request is (method, path, headers, json body)."""
    pending = list(statuses or [])
    requests: list[tuple[str, str, dict, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            requests.append((self.command, self.path, dict(self.headers), json.loads(raw) if raw else None))
            status = pending.pop(0) if pending else default
            payload = json.dumps(body or {"ok": status < 400}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = do_PUT = do_PATCH = do_GET = _answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()
