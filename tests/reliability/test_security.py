"""Security from Ruby and Python, at a real collector: secrets planted through every path that
carries fields (span fields, nested maps, maps inside lists, maps nested deeper than the
flattening limit, span.set, span events, log events, the Logger / logging ``extra``, lifecycle
fields and labels, metric labels, the handler span's step context) never reach the collector
or the console; exception messages are not scrubbed (documented); OTLP header values from
``OTEL_EXPORTER_OTLP_HEADERS`` are never printed, not even at trace level.

Rust fields: core/tests/pipeline.rs and core/tests/otlp_*.rs; header values at trace level from
Rust: core/tests/faults.rs."""

from __future__ import annotations

import re

import pytest

from harness import figures
from harness.collector import Collector
from probing import run_probe

SECRETS = [
    "SECRET-span-field",
    "SECRET-nested-map",
    "SECRET-list-of-maps",
    "SECRET-deep",
    "SECRET-span-set",
    "SECRET-span-event",
    "SECRET-log-event",
    "SECRET-lifecycle-label",
    "SECRET-lifecycle-field",
    "SECRET-metric-label",
    "SECRET-handler-context",
]


@pytest.mark.parametrize("lang", ["python", "ruby"])
def test_redaction_holds_on_every_path(lang: str) -> None:
    secrets = SECRETS + (["SECRET-logging-extra"] if lang == "python" else ["SECRET-logger-fields"])
    with Collector(metrics=True) as collector:
        proc = run_probe(lang, "redaction", {"ENDPOINT": collector.http_endpoint, "SERVICE": f"{lang}-redaction"}, timeout=60)
        span = collector.wait_for_spans(["redaction", "handler_execution"])["redaction"]
        collector.wait_for_span_count(2, timeout=10)
        output = collector.output()
    everything = output + proc.stdout + proc.stderr
    leaked = [s for s in secrets if s in everything]
    assert not leaked, f"leaked: {leaked}"
    assert span.attributes["password"] == "[REDACTED]"
    assert span.attributes["user.api_key"] == "[REDACTED]"
    assert span.attributes["authorization"] == "[REDACTED]"
    assert "[REDACTED]" in span.attributes["users"]
    login = next(e for e in span.events if e.name == "login")
    assert login.attributes["cookie"] == "[REDACTED]"
    assert "session_token" in output and "tasker_steps_claimed_total" in output, "the metric label arrived (redacted)"
    # Documented: exception messages are not scrubbed.
    assert "SECRET-EXCEPTION-MESSAGE" in span.attributes.get("exception.message", ""), span.attributes
    redacted = len(re.findall(r"\[REDACTED\]", everything))
    figures.record(
        f"redaction_{lang}",
        lang=lang,
        load="1 span, its events, logs and metrics",
        faults="-",
        bad_inputs=f"{len(secrets)} secrets through {len(secrets)} paths (fields, nested, lists, deep, set, events, logs, "
        + ("logging extra" if lang == "python" else "Logger")
        + ", lifecycle, metric labels, step context)",
        lost=0,
        leaked=len(leaked),
        redacted_values_seen=redacted,
        exception_message_scrubbed=False,
    )


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
@pytest.mark.parametrize("lang", ["python", "ruby"])
def test_otlp_header_values_are_never_printed(collector: Collector, lang: str, protocol: str) -> None:
    endpoint = collector.grpc_endpoint if protocol == "grpc" else collector.http_endpoint
    proc = run_probe(
        lang,
        "headers",
        {
            "ENDPOINT": endpoint,
            "PROTOCOL": protocol,
            "SERVICE": f"{lang}-headers",
            "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20SECRET-TOKEN-1,x-api-key=SECRET-KEY-2",
            "TASKER_LOG_LEVEL": "trace,opentelemetry=trace",
            "TASKER_LOG_FORMAT": "json",
        },
        timeout=60,
    )
    collector.wait_for_spans(["with_auth_header"])
    printed = proc.stdout + proc.stderr
    assert printed.count("\n") > 50, "trace level printed the HTTP/gRPC clients' own lines"
    assert "bad header:" in proc.stdout and "telemetry.otlp.headers" in proc.stdout and "<hidden>" in proc.stdout
    assert "SECRET-" not in printed, [l for l in printed.splitlines() if "SECRET-" in l][:5]
    figures.record(
        f"otlp_headers_{lang}_{'grpc' if protocol == 'grpc' else 'http'}",
        lang=lang,
        load="1 span exported with auth headers",
        faults="-",
        bad_inputs="console at trace level (HTTP/gRPC client internals); an init with a header value that is not valid",
        lost=0,
        printed_lines=printed.count("\n"),
        header_values_printed=0,
    )
