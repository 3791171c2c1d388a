"""W3C interop with the official OpenTelemetry Python SDK, both ways."""

from __future__ import annotations

import contextvars

from opentelemetry import baggage, context as otel_context
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tasker_core import tracing

CORR = "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11"
PROPAGATOR = CompositePropagator([TraceContextTextMapPropagator(), W3CBaggagePropagator()])


def sdk_tracer():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("interop-test"), exporter


def test_sdk_span_continued_by_remote_context(capture):
    tracer, _ = sdk_tracer()
    carrier: dict = {}
    with tracer.start_as_current_span("sdk_parent") as sdk_span:
        ctx = baggage.set_baggage("correlation_id", CORR)
        PROPAGATOR.inject(carrier, context=ctx)
        sc = sdk_span.get_span_context()

    def receive():
        with tracing.remote_context(carrier):
            with tracing.span("ours"):
                pass

    contextvars.Context().run(lambda: capture.run(receive))
    ours = capture.span("ours")
    assert ours["trace_id"] == format(sc.trace_id, "032x")
    assert ours["parent_span_id"] == format(sc.span_id, "016x")
    assert ours["attributes"]["correlation_id"] == CORR


def test_our_inject_continued_by_the_sdk(capture):
    tracer, exporter = sdk_tracer()

    def send():
        with tracing.correlation(correlation_id=CORR), tracing.span("ours") as s:
            return tracing.inject(), s

    headers, ours = capture.run(send)
    ctx = PROPAGATOR.extract(headers)
    token = otel_context.attach(ctx)
    try:
        assert baggage.get_baggage("correlation_id") == CORR
        with tracer.start_as_current_span("sdk_child"):
            pass
    finally:
        otel_context.detach(token)
    (child,) = exporter.get_finished_spans()
    assert format(child.context.trace_id, "032x") == ours.trace_id
    assert format(child.parent.span_id, "016x") == ours.span_id
    assert child.parent.is_remote
