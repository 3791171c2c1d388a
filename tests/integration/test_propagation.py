"""Ruby and Python processes continue one trace through W3C headers, at a real collector."""

from __future__ import annotations

import json

from harness.collector import Collector
from harness.packages import lines_with_prefix, run_python, run_ruby


def test_ruby_span_continues_a_python_trace(collector: Collector) -> None:
    py = run_python(
        """
        import json
        from tasker_core import tracing
        tracing.init(service_name="python-worker")
        with tracing.correlation(namespace="payments"):
            with tracing.span("py_parent"):
                print("HEADERS " + json.dumps(tracing.inject()), flush=True)
                print("CORRELATION " + tracing.current_correlation_id(), flush=True)
        """,
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.http_endpoint},
    )
    headers = json.loads(lines_with_prefix(py.stdout, "HEADERS ")[0])
    correlation_id = lines_with_prefix(py.stdout, "CORRELATION ")[0]
    run_ruby(
        """
        require "json"
        require "tasker_core/tracing"
        T = TaskerCore::Tracing
        T.with_remote_context(JSON.parse(ENV.fetch("HEADERS"))) do
          T.span("rb_child", api_key: "sk_live_1") { T.info("inside", token: "t0k3n") }
        end
        """,
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.http_endpoint,
            "OTEL_SERVICE_NAME": "ruby-worker",
            "HEADERS": json.dumps(headers),
        },
    )
    spans = collector.wait_for_spans(["py_parent", "rb_child"])
    parent, child = spans["py_parent"], spans["rb_child"]
    assert (parent.service, child.service) == ("python-worker", "ruby-worker")
    assert child.trace_id == parent.trace_id
    assert child.parent_id == parent.span_id
    assert child.attributes["correlation_id"] == correlation_id
    assert child.attributes["api_key"] == "[REDACTED]"
    inside = [e for e in child.events if e.name == "inside"]
    assert inside and inside[0].attributes["token"] == "[REDACTED]"
