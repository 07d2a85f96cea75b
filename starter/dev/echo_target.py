"""A local HTTP echo target for ``ductape-jobs dev``, so the example app actions work out of the box.

Every request is answered with 200 and a JSON echo of it (method, path, query, body), and
``/status/<code>`` answers with that status, to watch retries and failures. A path ending in
``/messages:send`` also gets FCM's ``name``, so the example push notifications can target it. It listens on
loopback only and never echoes request headers, which may carry credentials.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("ductape.echo")
_numbers = itertools.count(1)


class _Handler(BaseHTTPRequestHandler):
    server_version = "ductape-echo/1"

    def _answer(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: object = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        status = 200
        segments = parts.path.strip("/").split("/")
        if len(segments) == 2 and segments[0] == "status" and segments[1].isdigit():
            status = int(segments[1])
        echo: dict[str, object] = {
            "method": self.command,
            "path": parts.path,
            "query": parse_qs(parts.query),
            "body": body,
            "idempotency_key": self.headers.get("idempotency-key"),
        }
        if parts.path.endswith("/messages:send"):  # FCM's send answers with the message's name
            echo["name"] = f"{parts.path.removesuffix(':send')}/{next(_numbers)}"
        payload = json.dumps(echo).encode()
        log.info("echo: %s %s -> %d", self.command, parts.path, status)
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Silenced: ``_answer`` logs one line per request through ``logging``."""


class EchoTarget:
    """The echo server on a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8299) -> None:
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="echo-target", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
