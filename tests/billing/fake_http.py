"""A local HTTP server for tests: answers with the statuses it is given, records each request."""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


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


Answer = tuple[int, dict, bytes]  # status, headers, body


@contextmanager
def scripted_server(respond):
    """Yields (base_url, requests). `respond(method, path, query, headers, body) -> Answer` decides
    each answer (query is parse_qs's dict of lists). A Content-Length header larger than the body
    sends the body and closes the connection: a cut-off answer."""
    requests: list[tuple[str, str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            url = urlsplit(self.path)
            requests.append((self.command, self.path, dict(self.headers)))
            status, headers, body = respond(self.command, url.path, parse_qs(url.query), dict(self.headers), raw)
            headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), **headers}
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a timeout test)
            self.close_connection = True

        do_POST = do_GET = _answer

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
