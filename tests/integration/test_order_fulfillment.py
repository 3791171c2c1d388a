"""One trace across Rust, Ruby and Python: the example orchestrator (examples/) with its Ruby and
Python worker processes, in both handler modes, exporting to a real collector (rotel-agent)."""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List

import pytest

from harness.collector import Collector, Received, Span
from harness.packages import binary, python_exe, run

SECRETS = {
    # (span name, attribute) pairs that a handler set to a secret value
    ("authorize_card", "api_key"),
    ("smtp_send", "smtp_password"),
}
HANDLER_STEPS = {"charge_payment": "ruby-worker", "reserve_inventory": "python-worker", "send_confirmation": "python-worker"}


def orchestrate(collector: Collector, *args: str) -> Dict[str, Any]:
    """Runs the orchestrator against the collector; returns its report."""
    report = Path(tempfile.mkdtemp(prefix="tasker-it-")) / "report.json"
    run(
        [binary("order_fulfillment"), "--python", python_exe(), "--report", str(report), *args],
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.http_endpoint,
            "TASKER_EXPORT_LOGS": "true",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        },
        timeout=180,
    )
    return json.loads(report.read_text())


def expected_span_count(report: Dict[str, Any]) -> int:
    return sum(int(n) for n in report["spans"].values())


def step_spans(spans: List[Span]) -> Dict[tuple, Span]:
    """The orchestrator's ``step <name>`` spans by (step, attempt)."""
    return {
        (s.attributes["step_name"], int(s.attributes["attempt"])): s
        for s in spans
        if s.service == "orchestrator" and s.name.startswith("step ")
    }


def check_single_trace(received: Received, report: Dict[str, Any]) -> Dict[str, Span]:
    spans = received.spans
    by_id = {s.span_id: s for s in spans}
    # Nothing lost, nothing extra: what every process created is what the collector holds.
    assert len(spans) == expected_span_count(report), f"collector has {len(spans)} spans, processes created {report['spans']}"
    assert len(by_id) == len(spans), "span ids are unique"
    # One trace, one correlation id, three services.
    assert {s.trace_id for s in spans} == {report["trace_id"]}
    assert {s.attributes.get("correlation_id") for s in spans} == {report["correlation_id"]}
    assert {s.service for s in spans} == {"orchestrator", "ruby-worker", "python-worker"}
    roots = [s for s in spans if not s.parent_id]
    assert [r.name for r in roots] == ["order_fulfillment"]
    assert all(s.parent_id in by_id for s in spans if s.parent_id), "every parent was received"
    # Every log event too (exported as OTLP logs), from all three languages.
    assert received.logs, "log events exported"
    assert {log.attributes.get("correlation_id") for log in received.logs} == {report["correlation_id"]}
    assert {log.service for log in received.logs} >= {"orchestrator", "ruby-worker", "python-worker"}
    return by_id


def check_handlers(spans: List[Span], by_id: Dict[str, Span], report: Dict[str, Any], mode: str) -> None:
    steps = step_spans(spans)
    handlers = [s for s in spans if s.name == "handler_execution"]
    assert len(handlers) == sum(1 for a in report["attempts"] if a["service"] != "orchestrator")
    for h in handlers:
        key = (h.attributes["step_name"], int(h.attributes["attempt"]))
        step = steps[key]
        assert h.service == HANDLER_STEPS[key[0]]
        # Both modes run the package's run_step: the handler nests under the worker's
        # execute_step span, which continues the orchestrator's step span (through the headers
        # in the message, or the worker's remote_context in "workers" mode).
        rust = by_id[h.parent_id]
        assert (rust.name, rust.service) == ("execute_step", h.service), f"{key} ({mode})"
        assert rust.parent_id == step.span_id
        assert rust.attributes["step_name"] == key[0]
        # Nested handler spans nest under their own handler (concurrent steps never cross).
        children = [s for s in spans if s.parent_id == h.span_id]
        expected = {"charge_payment": {"authorize_card", "capture_payment"}, "reserve_inventory": {"reserve_sku"},
                    "send_confirmation": {"render_email", "smtp_send"}}[key[0]]
        assert {c.name for c in children} <= expected and children, f"{key}: children {[c.name for c in children]}"
    # The attempts the orchestrator reports are the step spans the collector received.
    assert {(a["step"], a["attempt"]): a["step_span_id"] for a in report["attempts"]} == {k: s.span_id for k, s in steps.items()}


def check_redaction(spans: List[Span], received: Received) -> None:
    seen = 0
    for s in spans:
        for name, key in SECRETS:
            if s.name == name and key in s.attributes:
                assert s.attributes[key] == "[REDACTED]", f"{name}.{key} = {s.attributes[key]}"
                seen += 1
    assert seen >= 2
    tokens = [log.attributes[k] for log in received.logs for k in ("card_token", "auth_token") if k in log.attributes]
    assert tokens and set(tokens) == {"[REDACTED]"}, tokens
    events = [e.attributes["card_token"] for s in spans for e in s.events if "card_token" in e.attributes]
    assert events and set(events) == {"[REDACTED]"}


def check_failure(spans: List[Span], by_id: Dict[str, Span], step: str) -> None:
    steps = step_spans(spans)
    failed, retried = steps[(step, 1)], steps[(step, 2)]
    assert failed.is_error and not retried.is_error
    assert "step.retry_scheduled" in [e.name for e in failed.events]
    handlers = {int(s.attributes["attempt"]): s for s in spans if s.name == "handler_execution" and s.attributes["step_name"] == step}
    assert handlers[1].is_error and not handlers[2].is_error
    exception = [e for e in handlers[1].events if e.name == "exception"]
    assert exception and exception[0].attributes["exception.type"], handlers[1].events
    lifecycle = [e.name for s in spans for e in s.events if e.name.startswith("step.")]
    assert "step.failed" in lifecycle and "step.completed" in lifecycle


@pytest.mark.parametrize(
    "mode,fail_step",
    [("workers", "reserve_inventory"), ("in-process", "charge_payment")],
)
def test_one_trace_across_three_languages(collector: Collector, mode: str, fail_step: str) -> None:
    report = orchestrate(collector, "--mode", mode, "--fail-step", fail_step)
    assert report["mode"] == mode
    collector.wait_for_count(expected_span_count(report), timeout=60)
    received = collector.received()
    spans = received.spans
    print(f"\n{mode}: {len(spans)} spans at the collector, created {report['spans']}, {len(received.logs)} log records")
    by_id = check_single_trace(received, report)
    check_handlers(spans, by_id, report, mode)
    check_redaction(spans, received)
    check_failure(spans, by_id, fail_step)
    names = Counter(e.name for s in spans for e in s.events)
    for event in ("task.initialized", "task.completed", "step.enqueued", "step.claimed", "step.executing", "step.completed"):
        assert names[event] >= 1, f"{event} missing: {names}"


def test_without_a_collector_the_run_is_written_to_one_file_and_drawn(tmp_path: Path) -> None:
    trace_file, report_file = tmp_path / "traces.jsonl", tmp_path / "report.json"
    proc = run(
        [binary("order_fulfillment"), "--python", python_exe(), "--trace-file", str(trace_file), "--view",
         "--report", str(report_file), "--fail-step", "send_confirmation"],
        timeout=180,
    )
    report = json.loads(report_file.read_text())
    total = expected_span_count(report)
    # OTLP-JSON: one ExportTraceServiceRequest per line, appended by all three processes.
    services, spans_in_file = set(), 0
    for line in trace_file.read_text().splitlines():
        for rs in json.loads(line)["resourceSpans"]:
            attrs = {a["key"]: a["value"].get("stringValue") for a in rs["resource"]["attributes"]}
            services.add(attrs["service.name"])
            spans_in_file += sum(len(ss["spans"]) for ss in rs["scopeSpans"])
    assert services == {"orchestrator", "ruby-worker", "python-worker"}
    assert spans_in_file == total
    head = proc.stdout.splitlines()[:3]
    assert head[0] == f"trace {report['trace_id']}"
    assert head[1] == f"correlation_id {report['correlation_id']}"
    assert head[2].startswith(f"{total} spans, 3 services (orchestrator, python-worker, ruby-worker)")
    assert "with errors" in head[2]
    span_lines = [line for line in proc.stdout.splitlines() if line.rstrip().endswith("]") or "✗" in line]
    assert len(span_lines) == total
    assert any("handler_execution [python-worker]" in line and "✗" in line for line in span_lines)
    # The CLI draws the same waterfall from the file.
    viewed = run([binary("tasker-telemetry"), "view", "--color", "never", str(trace_file)])
    assert viewed.stdout.splitlines()[: total + 4] == proc.stdout.splitlines()[: total + 4]
    bad = run([binary("tasker-telemetry"), "view", str(tmp_path / "missing.jsonl")], check=False)
    assert bad.returncode == 2 and "missing.jsonl" in bad.stderr
