"""Libraries instrumented through the OpenTelemetry API join the trace (issue 13), checked end to
end against a real collector: ``requests`` (opentelemetry-instrumentation-requests) and, in
asyncio, ``httpx`` (opentelemetry-instrumentation-httpx) call a loopback HTTP server from inside
a ``tracing.span`` handler; the server continues the trace with ``tracing.remote_context``."""

from __future__ import annotations

import pytest

from conftest import run_python

pytest.importorskip("opentelemetry.instrumentation.requests", reason="test dependency from python/requirements-test.txt")
pytest.importorskip("opentelemetry.instrumentation.httpx", reason="test dependency from python/requirements-test.txt")

CORR = "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11"

PROGRAM = """
    import asyncio, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import httpx, requests
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from tasker_core import tracing

    RequestsInstrumentor().instrument()
    HTTPXClientInstrumentor().instrument()
    seen = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            headers = dict(self.headers.items())
            with tracing.remote_context(headers):
                with tracing.span("server_" + self.path.strip("/")):
                    seen[self.path] = (headers.get("traceparent"), tracing.current_correlation_id())
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    with tracing.correlation(correlation_id="%(corr)s"):
        with tracing.span("handler_requests"):
            assert requests.get(base + "/requests", timeout=10).text == "ok"

    async def main():
        async def one(n):
            with tracing.span(f"handler_httpx_{n}"):
                async with httpx.AsyncClient() as client:
                    response = await client.get(f"{base}/httpx_{n}", timeout=10)
                    assert response.text == "ok"
        with tracing.correlation(correlation_id="%(corr)s"):
            await asyncio.gather(one(1), one(2))

    asyncio.run(main())
    server.shutdown()
    for path, (traceparent, corr) in sorted(seen.items()):
        print("SEEN", path, traceparent, corr)
    tracing.shutdown()
""" % {"corr": CORR}


def test_instrumented_http_clients_join_the_handler_trace(collector):
    proc = run_python(PROGRAM, env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.http_endpoint, "OTEL_SERVICE_NAME": "bridge-http"})
    seen = {}
    for line in proc.stdout.splitlines():
        if line.startswith("SEEN "):
            _, path, traceparent, corr = line.split()
            seen[path] = (traceparent, corr)
    assert set(seen) == {"/requests", "/httpx_1", "/httpx_2"}, proc.stdout + proc.stderr

    spans = collector.wait_for_count(9)
    by_id = {s.span_id: s for s in spans}
    for handler, server in (
        ("handler_requests", "server_requests"),
        ("handler_httpx_1", "server_httpx_1"),
        ("handler_httpx_2", "server_httpx_2"),
    ):
        root = next(s for s in spans if s.name == handler)
        server_span = next(s for s in spans if s.name == server)
        client = by_id[server_span.parent_id]  # the server continued the client span's trace
        assert client.name == "GET", client
        assert client.parent_id == root.span_id, (handler, client, root)
        assert root.parent_id == ""
        assert client.trace_id == root.trace_id == server_span.trace_id
        # The header the server received names the client span.
        traceparent, corr = seen["/" + server.split("_", 1)[1]]
        assert traceparent.split("-")[1:3] == [client.trace_id, client.span_id]
        assert corr == CORR  # the correlation crossed in the baggage
        for s in (root, client, server_span):
            assert s.attributes.get("correlation_id") == CORR, s
        assert client.attributes.get("http.response.status_code", client.attributes.get("http.status_code")) == "200"
    assert len({s.trace_id for s in spans}) == 3
