"""The W3C trace-context test service (the harness in ``trace-context/``), written on the public
API of the Python package: ``tracing.remote_context(headers)`` → ``tracing.span(...)`` →
``tracing.inject()``.

The harness POSTs a JSON list of ``{"url": ..., "arguments": ...}`` with ``traceparent`` and
``tracestate`` headers; for each element the service POSTs ``arguments`` to ``url`` with the
headers ``inject()`` gives, from a span of its own (one per outgoing call, as an HTTP client
instrumentation does). Repeated request headers are combined with ``,`` as HTTP (RFC 9110)
and web frameworks do.

Run: ``python service.py [port]``; prints ``LISTENING <port>`` once it accepts requests.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict

from tasker_core import tracing


def combined_headers(handler: BaseHTTPRequestHandler) -> Dict[str, str]:
    """The request's headers, one entry per (lower-cased) name, repeated fields joined by ``,``."""
    out: Dict[str, str] = {}
    for name, value in handler.headers.items():
        key = name.lower()
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


def call(url: str, arguments: Any) -> None:
    """POSTs ``arguments`` to ``url`` with the current trace context's headers."""
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    headers.update(tracing.inject())
    request = urllib.request.Request(url, data=json.dumps(arguments).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


class Handler(BaseHTTPRequestHandler):
    """Handles the harness's POSTs."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        actions = json.loads(body or b"[]") or []
        if not isinstance(actions, list):
            actions = [actions]
        status = 200
        try:
            with tracing.remote_context(combined_headers(self)):
                with tracing.span("w3c.request"):
                    for action in actions:
                        with tracing.span("w3c.callback", url=action["url"]):
                            call(action["url"], action.get("arguments") or [])
        except Exception as err:  # reported to the harness, which shows it
            status = 500
            print(f"service error: {err!r}", file=sys.stderr, flush=True)
        payload = b"{}"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
        pass


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    tracing.init(service_name="w3c-trace-context-service")
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"LISTENING {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    finally:
        tracing.shutdown()


if __name__ == "__main__":
    main()
