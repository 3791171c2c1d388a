"""The OpenTelemetry API bridge: the API's spans are the core's, and one context serves both
APIs (issue 13). The bridge is installed at import in this process (``auto``: the tests
import ``tasker_core`` before any SDK provider is set); the modes are tested in subprocesses."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest
from opentelemetry import baggage, context as otel_context, propagate, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from tasker_core import tracing
from tasker_core._bridge import BridgeSpan, TracerProvider

from conftest import run_python

CORR = "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
tracer = trace.get_tracer("tests.bridge")


def hex_span(span: trace.Span) -> str:
    return format(span.get_span_context().span_id, "016x")


def by_name(spans):
    return {s["name"]: s for s in spans}


def test_the_bridge_is_installed_at_import():
    assert isinstance(trace.get_tracer_provider(), TracerProvider)
    assert isinstance(tracer.start_span("probe"), BridgeSpan)


def test_inside_our_span_the_api_sees_it(capture):
    def body():
        with tracing.span("ours", order_id=1) as ours:
            current = trace.get_current_span()
            cx = current.get_span_context()
            return ours.trace_id, ours.span_id, format(cx.trace_id, "032x"), format(cx.span_id, "016x"), current.is_recording()

    trace_id, span_id, api_trace, api_span, recording = contextvars.Context().run(lambda: capture.run(body))
    assert (api_trace, api_span) == (trace_id, span_id)
    assert recording
    # Outside any span, the API sees none.
    assert not contextvars.Context().run(lambda: trace.get_current_span().get_span_context().is_valid)


def test_api_span_ours_api_span_nest_both_ways(capture):
    def body():
        with tracing.correlation(correlation_id=CORR):
            with tracer.start_as_current_span("api_outer", kind=SpanKind.SERVER, attributes={"http.route": "/x"}) as outer:
                assert tracing.current_span_id() == hex_span(outer)
                assert tracing.current_correlation_id() == CORR
                with tracing.span("ours") as ours:
                    assert trace.get_current_span().get_span_context().span_id == int(ours.span_id, 16)
                    with tracer.start_as_current_span("api_inner", kind=SpanKind.CLIENT) as inner:
                        assert tracing.current_span_id() == hex_span(inner)
                        assert tracing.current_correlation_id() == CORR
                    assert trace.get_current_span().get_span_context().span_id == int(ours.span_id, 16)
                assert trace.get_current_span() is outer

    capture.run(body)
    spans = by_name(capture.spans())
    outer, ours, inner = spans["api_outer"], spans["ours"], spans["api_inner"]
    assert outer["parent_span_id"] is None
    assert ours["parent_span_id"] == outer["span_id"]
    assert inner["parent_span_id"] == ours["span_id"]
    assert outer["trace_id"] == ours["trace_id"] == inner["trace_id"]
    assert (outer["kind"], inner["kind"], ours["kind"]) == ("server", "client", "internal")
    assert outer["attributes"]["http.route"] == "/x"
    assert "otel.kind" not in outer["attributes"]
    for s in (outer, ours, inner):
        assert s["attributes"]["correlation_id"] == CORR


def test_the_api_shows_the_span_the_core_would_parent_to(capture):
    from tasker_core import _native
    from tasker_core._context import context

    def api_span_id() -> str:
        return hex_span(trace.get_current_span())

    def body():
        with tracing.span("parent") as parent:
            with tracing.span("child") as child:
                child._native.detach()  # as when its context could not be reset: it steps aside
                assert tracing.current_span_id() == parent.span_id
                assert api_span_id() == parent.span_id
            # A Rust span that called into Python is the current span for both APIs.
            seen = _native._testing_rust_span("rust_mid", lambda: (tracing.current_span_id(), api_span_id()), None, *context())
            (ours, api), _, rust_span_id = seen
            assert ours == api == rust_span_id

    contextvars.Context().run(lambda: capture.run(body))


def test_an_exception_is_recorded_once_per_span_with_error_status(capture):
    def body():
        with tracing.span("ours"):
            with tracer.start_as_current_span("api"):
                raise ValueError("card declined")

    with pytest.raises(ValueError):
        capture.run(body)
    spans = by_name(capture.spans())
    for name in ("api", "ours"):
        span = spans[name]
        assert span["status"] == "error", name
        assert [e["name"] for e in span["events"]].count("exception") == 1, name
    api = spans["api"]
    assert api["status_message"] == "ValueError: card declined"
    event = next(e for e in api["events"] if e["name"] == "exception")
    assert event["attributes"]["exception.type"] == "ValueError"
    assert event["attributes"]["exception.message"] == "card declined"


def test_span_api_coverage(capture):
    linked = trace.SpanContext(
        0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, is_remote=True, trace_flags=trace.TraceFlags(1)
    )
    end_ns = time.time_ns() + 5_000_000_000

    def body():
        span = tracer.start_span("renamed_later", links=[Link(linked, {"link.kind": "batch"})])
        assert span.is_recording()
        span.set_attribute("late", "yes")
        span.set_attributes({"n": 3, "tags": ["a", "b"]})
        span.add_event("checkpoint", {"step": 2})
        span.update_name("renamed")
        span.set_status(Status(StatusCode.OK))
        span.record_exception(KeyError("handled"))
        span.end(end_time=end_ns)
        assert not span.is_recording()
        span.end()  # idempotent

    capture.run(body)
    span = by_name(capture.spans())["renamed"]
    assert span["attributes"]["late"] == "yes"
    assert span["attributes"]["n"] == 3
    assert [e["name"] for e in span["events"]] == ["checkpoint", "exception"]
    assert span["events"][0]["attributes"]["step"] == 2
    assert span["status"] == "ok"  # record_exception alone does not set the status
    assert span["links"] == [
        {"trace_id": format(linked.trace_id, "032x"), "span_id": format(linked.span_id, "016x"), "attributes": {"link.kind": "batch"}}
    ]
    assert span["end_time_ns"] // 1000 == end_ns // 1000


def test_inject_writes_traceparent_and_correlation_baggage(capture):
    def body():
        with tracing.correlation(correlation_id=CORR):
            with tracer.start_as_current_span("client", kind=SpanKind.CLIENT) as client:
                ctx = baggage.set_baggage("tenant", "acme")
                token = otel_context.attach(ctx)
                try:
                    headers: dict = {}
                    propagate.inject(headers)
                finally:
                    otel_context.detach(token)
                return headers, client

    headers, client = capture.run(body)
    cx = client.get_span_context()
    assert headers["traceparent"] == f"00-{cx.trace_id:032x}-{cx.span_id:016x}-01"
    members = dict(m.split("=", 1) for m in headers["baggage"].split(","))
    assert members["correlation_id"] == CORR
    assert members["tenant"] == "acme"


def test_extract_continues_the_remote_trace_with_its_correlation(capture):
    headers = {"traceparent": TRACEPARENT, "baggage": f"correlation_id={CORR}"}

    def body():
        ctx = propagate.extract(headers)
        with tracer.start_as_current_span("server", context=ctx, kind=SpanKind.SERVER):
            assert tracing.current_correlation_id() == CORR
            with tracing.span("handler"):
                pass
        token = otel_context.attach(ctx)  # as web-framework instrumentations do
        try:
            assert tracing.current_trace_id() == TRACEPARENT[3:35]
            assert tracing.current_correlation_id() == CORR
            with tracing.span("attached_child"):
                pass
        finally:
            otel_context.detach(token)
        assert tracing.current_correlation_id() is None

    contextvars.Context().run(lambda: capture.run(body))
    spans = by_name(capture.spans())
    assert spans["server"]["trace_id"] == TRACEPARENT[3:35]
    assert spans["server"]["parent_span_id"] == TRACEPARENT[36:52]
    assert spans["handler"]["parent_span_id"] == spans["server"]["span_id"]
    assert spans["attached_child"]["parent_span_id"] == TRACEPARENT[36:52]
    assert spans["handler"]["attributes"]["correlation_id"] == CORR


def test_unsampled_remote_parent_gives_non_recording_api_spans(capture):
    headers = {"traceparent": TRACEPARENT[:-2] + "00"}

    def body():
        ctx = propagate.extract(headers)
        with tracer.start_as_current_span("unsampled", context=ctx) as span:
            return span.is_recording(), span.get_span_context()

    recording, cx = capture.run(body)
    assert not recording
    assert cx.trace_id == int(TRACEPARENT[3:35], 16) and not cx.trace_flags.sampled
    assert "unsampled" not in by_name(capture.spans())


def test_asyncio_tasks_keep_their_own_api_spans(capture):
    async def worker(name: str, seen: dict) -> None:
        with tracer.start_as_current_span(name) as span:
            await asyncio.sleep(0.01)
            with tracing.span(f"{name}.child"):
                seen[name] = (hex_span(span), hex_span(trace.get_current_span()))
            await asyncio.sleep(0.01)
            assert trace.get_current_span() is span

    async def main() -> dict:
        seen: dict = {}
        with tracing.span("root"):
            await asyncio.gather(worker("a", seen), worker("b", seen))
        return seen

    capture.run(lambda: asyncio.run(main()))
    spans = by_name(capture.spans())
    for name in ("a", "b"):
        assert spans[name]["parent_span_id"] == spans["root"]["span_id"]
        assert spans[f"{name}.child"]["parent_span_id"] == spans[name]["span_id"]


def test_a_thread_with_copy_context_keeps_the_api_span(capture):
    def body():
        with tracer.start_as_current_span("api_parent"):
            ctx = contextvars.copy_context()
            t = threading.Thread(target=ctx.run, args=(lambda: capture.run(lambda: tracing.span("in_thread").__enter__().end()),))
            t.start()
            t.join()

    capture.run(body)
    spans = by_name(capture.spans())
    assert spans["in_thread"]["parent_span_id"] == spans["api_parent"]["span_id"]


def test_decorator_form_of_start_as_current_span(capture):
    @tracer.start_as_current_span("decorated")
    def work() -> str:
        return tracing.current_span_id() or ""

    @tracer.start_as_current_span("decorated_async")
    async def work_async() -> str:
        return tracing.current_span_id() or ""

    first = capture.run(work)
    second = capture.run(lambda: asyncio.run(work_async()))
    spans = by_name(capture.spans())
    assert spans["decorated"]["span_id"] == first
    assert spans["decorated_async"]["span_id"] == second


def test_api_meter_records_through_the_core(collector):
    code = f"""
        from opentelemetry import metrics
        from tasker_core import tracing
        meter = metrics.get_meter("tests.bridge")
        meter.create_counter("bridge_requests_total").add(3, {{"route": "/x"}})
        meter.create_histogram("bridge_latency").record(12.5)
        meter.create_observable_gauge("bridge_queue", callbacks=[lambda options: [metrics.Observation(7)]])
        metrics.get_meter_provider().force_flush()
        tracing.shutdown()
    """
    run_python(code, env={"OTEL_EXPORTER_OTLP_ENDPOINT": collector.http_endpoint, "OTEL_METRIC_EXPORT_INTERVAL": "600000"})
    wanted = ("bridge_requests_total", "bridge_latency", "bridge_queue")
    deadline = time.time() + 30
    while time.time() < deadline and not all(name in collector.output() for name in wanted):
        time.sleep(0.5)
    for name in wanted:
        assert name in collector.output(), collector.output()


# ---------------------------------------------------------------------------------------------
# Modes, in fresh interpreters

SDK_FIRST = """
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider as SdkProvider
    trace.set_tracer_provider(SdkProvider())
    from tasker_core import tracing
    from tasker_core._bridge import TracerProvider
    print("OURS" if isinstance(trace.get_tracer_provider(), TracerProvider) else "KEPT")
"""


def test_auto_keeps_another_sdk_provider_and_says_so():
    proc = run_python(SDK_FIRST)
    assert "KEPT" in proc.stdout
    assert "opentelemetry.sdk.trace.TracerProvider" in proc.stdout + proc.stderr
    assert "TASKER_OPENTELEMETRY_BRIDGE=on" in proc.stdout + proc.stderr


def test_on_replaces_another_sdk_provider_and_says_so():
    proc = run_python(SDK_FIRST, env={"TASKER_OPENTELEMETRY_BRIDGE": "on"})
    assert "OURS" in proc.stdout
    assert "is replaced by tasker-telemetry" in proc.stdout + proc.stderr


def test_off_installs_nothing_until_asked():
    proc = run_python(
        """
        from opentelemetry import context, propagate, trace
        from tasker_core import tracing
        print("proxy" if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider) else "set")
        print(type(context._RUNTIME_CONTEXT).__module__)
        assert tracing.install_opentelemetry_bridge() is True
        print(type(trace.get_tracer_provider()).__module__)
        """,
        env={"TASKER_OPENTELEMETRY_BRIDGE": "off"},
    )
    first, runtime, after = proc.stdout.split()[:3]
    assert first == "proxy"
    assert runtime == "opentelemetry.context.contextvars_context"
    assert after == "tasker_core._bridge"


def test_explicit_install_keeps_an_sdk_provider_unless_replace():
    proc = run_python(
        """
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider as SdkProvider
        trace.set_tracer_provider(SdkProvider())
        from tasker_core import tracing
        print(tracing.install_opentelemetry_bridge(), tracing.install_opentelemetry_bridge(replace=True))
        """,
        env={"TASKER_OPENTELEMETRY_BRIDGE": "off"},
    )
    assert proc.stdout.split()[:2] == ["False", "True"]


def test_an_invalid_mode_is_named_and_the_default_applies():
    proc = run_python(
        """
        from opentelemetry import trace
        from tasker_core import tracing
        print(type(trace.get_tracer_provider()).__module__)
        """,
        env={"TASKER_OPENTELEMETRY_BRIDGE": "sometimes"},
    )
    assert "TASKER_OPENTELEMETRY_BRIDGE" in proc.stdout + proc.stderr
    assert "auto, on or off" in proc.stdout + proc.stderr
    assert "tasker_core._bridge" in proc.stdout


# ---------------------------------------------------------------------------------------------
# Review findings (regressions)


def test_leaving_start_as_current_span_in_another_context_neither_raises_nor_leaks(capture):
    def body():
        manager = tracer.start_as_current_span("crossed")
        contextvars.Context().run(manager.__enter__)
        contextvars.Context().run(lambda: manager.__exit__(None, None, None))  # no ValueError

    capture.run(body)
    assert "crossed" in by_name(capture.spans())  # ended, not left to the collector


def test_an_api_span_closed_out_of_order_steps_aside_like_tracing_span(capture):
    def rows():
        with tracer.start_as_current_span("fetch"):
            yield 1
            yield 2

    def body():
        gen = rows()
        next(gen)
        with tracing.span("work") as work:
            gen.close()  # "fetch" ends inside "work": it is not the innermost span here
            assert tracing.current_span_id() == work.span_id
            with tracing.span("after"):
                pass

    contextvars.Context().run(lambda: capture.run(body))
    spans = by_name(capture.spans())
    assert spans["after"]["parent_span_id"] == spans["work"]["span_id"]


def test_a_context_derived_under_a_rust_span_keeps_its_correlation(capture):
    from tasker_core import _native
    from tasker_core._context import context

    def inside_rust():
        token = otel_context.attach(baggage.set_baggage("tenant", "acme"))
        try:
            with tracing.span("py_child"):
                return tracing.current_correlation_id()
        finally:
            otel_context.detach(token)

    def body():
        return _native._testing_rust_span("rust_parent", inside_rust, CORR, *context())

    (corr, _, rust_span_id) = contextvars.Context().run(lambda: capture.run(body))
    assert corr == CORR
    child = by_name(capture.spans())["py_child"]
    assert child["parent_span_id"] == rust_span_id
    assert child["attributes"]["correlation_id"] == CORR


def test_an_explicit_empty_context_starts_a_new_trace(capture):
    from tasker_core import _native
    from tasker_core._context import context

    def body():
        with tracing.span("ours"):
            tracer.start_span("root_in_python", context=otel_context.Context()).end()
            _native._testing_rust_span(
                "rust", lambda: tracer.start_span("root_in_rust", context=otel_context.Context()).end(), None, *context()
            )

    contextvars.Context().run(lambda: capture.run(body))
    spans = by_name(capture.spans())
    for name in ("root_in_python", "root_in_rust"):
        assert spans[name]["parent_span_id"] is None, name
        assert spans[name]["trace_id"] != spans["ours"]["trace_id"], name


def test_start_span_as_a_context_manager_records_the_exception(capture):
    def body():
        with tracer.start_span("managed"):
            raise ValueError("bad row")

    with pytest.raises(ValueError):
        capture.run(body)
    span = by_name(capture.spans())["managed"]
    assert span["status"] == "error"
    assert [e["name"] for e in span["events"]] == ["exception"]


def test_api_baggage_follows_the_configured_propagators():
    proc = run_python(
        """
        from opentelemetry import baggage, context, propagate
        from tasker_core import tracing
        token = context.attach(baggage.set_baggage("tenant", "acme"))
        with tracing.span("s"):
            headers = {}
            propagate.inject(headers)
        print(sorted(headers))
        ctx = propagate.extract({"baggage": "tenant=acme"})
        print(baggage.get_baggage("tenant", ctx))
        """,
        env={"OTEL_PROPAGATORS": "tracecontext"},
    )
    assert proc.stdout.split("\n")[:2] == ["['traceparent']", "None"]
