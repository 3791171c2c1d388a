"""Correlation, W3C propagation (inject / remote_context) and handler spans."""

from __future__ import annotations

import contextvars
import uuid

import pytest

from tasker_core import tracing

CORR = "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11"
TASK = "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b12"
STEP = uuid.UUID("0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b13")


def test_correlation_scope_stamps_spans_and_events(capture):
    def work():
        assert tracing.current_correlation_id() is None
        with tracing.correlation(task_uuid=TASK, step_uuid=STEP, namespace="payments") as corr:
            assert uuid.UUID(corr.correlation_id).version == 7
            assert tracing.current_correlation_id() == corr.correlation_id
            with tracing.span("step"):
                tracing.info("working")
            with tracing.correlation(correlation_id=CORR):
                assert tracing.current_correlation_id() == CORR
            assert tracing.current_correlation_id() == corr.correlation_id
            return corr.correlation_id

    corr_id = capture.run(work)
    attrs = capture.span("step")["attributes"]
    assert attrs["correlation_id"] == corr_id
    assert attrs["task_uuid"] == TASK and attrs["step_uuid"] == str(STEP)
    assert attrs["namespace"] == "payments"
    line = next(l for l in capture.json_lines() if l["message"] == "working")
    assert line["correlation_id"] == corr_id and line["namespace"] == "payments"
    assert tracing.current_correlation_id() is None


def test_invalid_correlation_ids_raise_naming_the_field():
    with pytest.raises(tracing.TracingError, match="task_uuid.*not-a-uuid|not-a-uuid.*task_uuid"):
        with tracing.correlation(task_uuid="not-a-uuid"):
            pass


def test_inject_then_remote_context_continues_the_trace(capture):
    def sender():
        with tracing.correlation(correlation_id=CORR, namespace="ns"):
            with tracing.span("sender") as s:
                return tracing.inject(), s.trace_id, s.span_id

    def receiver(headers):
        with tracing.remote_context(headers) as remote:
            assert remote.is_valid
            assert tracing.current_correlation_id() == CORR
            with tracing.span("receiver"):
                tracing.info("received")

    headers, trace_id, span_id = capture.run(sender)
    assert headers["traceparent"] == f"00-{trace_id}-{span_id}-01"
    assert f"correlation_id={CORR}" in headers["baggage"]
    # A fresh context, as in another process.
    contextvars.Context().run(lambda: capture.run(lambda: receiver(headers)))
    received = capture.span("receiver")
    assert received["trace_id"] == trace_id and received["parent_span_id"] == span_id
    assert received["attributes"]["correlation_id"] == CORR
    assert received["attributes"]["namespace"] == "ns"


def test_invalid_headers_start_a_new_trace(capture):
    def work():
        with tracing.remote_context({"traceparent": "garbage", "baggage": ";;;"}) as remote:
            assert not remote.is_valid and remote.trace_id is None
            with tracing.span("fresh"):
                pass

    capture.run(work)
    assert capture.span("fresh")["parent_span_id"] is None


def test_inject_without_a_span_or_correlation_is_empty():
    assert "traceparent" not in tracing.inject()


def test_handler_span_takes_the_correlation_from_the_step_context(capture):
    context = {
        "correlation_id": CORR,
        "task_uuid": TASK,
        "step_uuid": str(STEP),
        "namespace": "payments",
        "step_name": "charge_card",
        "attempt": 2,
        "order": {"id": 7},
    }

    def work():
        with tracing.handler_span("ChargeHandler", context) as span:
            assert tracing.current_correlation_id() == CORR
            tracing.info("charging")
            with tracing.span("inside"):
                pass
            return span.span_id

    span_id = capture.run(work)
    handler = capture.span("handler_execution")
    assert handler["span_id"] == span_id
    attrs = handler["attributes"]
    assert attrs["handler.name"] == "ChargeHandler"
    assert attrs["step_name"] == "charge_card" and attrs["attempt"] == 2
    assert attrs["correlation_id"] == CORR and attrs["task_uuid"] == TASK and attrs["namespace"] == "payments"
    assert capture.span("inside")["parent_span_id"] == span_id
    assert capture.span("inside")["attributes"]["correlation_id"] == CORR
    assert tracing.current_correlation_id() is None


def test_handler_span_records_errors_and_rejects_bad_ids(capture):
    def work():
        with tracing.handler_span("Failing", {"namespace": "x"}):
            raise RuntimeError("step failed")

    with pytest.raises(RuntimeError):
        capture.run(work)
    assert capture.span("handler_execution")["status"] == "error"
    with pytest.raises(tracing.TracingError, match="step_uuid"):
        with tracing.handler_span("Bad", {"step_uuid": "nope"}):
            pass
