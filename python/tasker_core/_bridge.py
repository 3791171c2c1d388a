"""The OpenTelemetry API bridge: the ``opentelemetry-api`` package's tracer provider, meter
provider, propagator and context made the core's, so libraries instrumented through the API
(``opentelemetry-instrumentation-requests``, ``-httpx``, ``-flask``, ...) join the trace.

Imported only when ``opentelemetry-api`` is installed. Whether it is installed at import, and
the warning when another SDK's provider is in place, are the core's decision
(``tasker_telemetry::bridge``, the same in Ruby).

**One context.** The current span of Python code is :data:`tasker_core._context.parent_var`,
for both APIs:

- the API's runtime context is replaced by :class:`_RuntimeContext`, which keeps the attached
  OpenTelemetry ``Context`` next to the span it made current. ``context.attach`` makes that
  span current for ``tracing.span`` too (a span of this bridge, or a remote parent);
- ``context.get_current()`` returns the attached ``Context`` while its span is still the
  current one, else (inside ``with tracing.span(...)``) that ``Context`` with the current span
  in it. ``tracing.span`` itself never touches the API's context, so it costs nothing more.

The API's ``start_time`` of a span is not honoured (the core timestamps a span when it starts);
events keep the time they are added.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
import threading
from types import TracebackType
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Type, Union
from urllib.parse import quote

from opentelemetry import baggage as otel_baggage
from opentelemetry import context as otel_context
from opentelemetry import metrics as otel_metrics
from opentelemetry import propagate as otel_propagate
from opentelemetry import trace
from opentelemetry.context.context import Context
from opentelemetry.context.context import _RuntimeContext as _ApiRuntimeContext
from opentelemetry.propagators import textmap
from opentelemetry.trace import (
    INVALID_SPAN,
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)
from opentelemetry.util.types import Attributes

from . import _native
from ._context import correlation_var, leave, parent_var, reset
from ._events import INFO
from ._native import Correlation, RemoteContext, TracingError
from ._util import exception_parts, qualified_type, safe_str

Parent = Union[_native.Span, RemoteContext, None]

_REMOTE_KEY = otel_context.create_key("tasker_core.remote_context")


def _state(header: str) -> TraceState:
    return TraceState.from_header([header]) if header else TraceState()


def _span_context(parts: Tuple[int, int, int, str], remote: bool) -> SpanContext:
    trace_id, span_id, flags, state = parts
    return SpanContext(trace_id, span_id, is_remote=remote, trace_flags=TraceFlags(flags), trace_state=_state(state))


def _on_exception(span: "BridgeSpan", exc: Optional[BaseException], flags: int) -> None:
    """What the API's ``use_span`` does with an exception leaving a span's block: only
    ``Exception`` subclasses are errors (not ``GeneratorExit``, ``KeyboardInterrupt``)."""
    if exc is not None and isinstance(exc, Exception) and span.is_recording():
        if flags & 1:
            span.record_exception(exc)
        if flags & 2:
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))


class BridgeSpan(trace.Span):
    """A span of the core seen through the OpenTelemetry API (what ``tracer.start_span``
    returns, and ``trace.get_current_span()`` inside ``tracing.span``)."""

    __slots__ = ("_native", "_context", "_flags")

    def __init__(self, native: _native.Span, flags: int = 3) -> None:
        self._native = native
        self._context: Optional[SpanContext] = None
        self._flags = flags  # 1: record_exception, 2: set_status_on_exception (as start_span got them)

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        """``with tracer.start_span(...) as span:`` records an exception leaving the block and
        sets the error status (as ``start_span``'s flags say), then ends the span."""
        try:
            _on_exception(self, exc, self._flags)
        finally:
            self._native.end()

    def get_span_context(self) -> SpanContext:
        cx = self._context
        if cx is None:
            cx = self._context = _span_context(self._native.span_context, False)
        return cx

    def is_recording(self) -> bool:
        native = self._native
        return native.is_recording and native.is_sampled

    def set_attribute(self, key: str, value: Any) -> None:
        self._native.set(key, value)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        native = self._native
        for key, value in attributes.items():
            native.set(key, value)

    def add_event(self, name: str, attributes: Attributes = None, timestamp: Optional[int] = None) -> None:
        self._native.add_event(name, dict(attributes) if attributes else None)

    def add_link(self, context: SpanContext, attributes: Attributes = None) -> None:
        self._native.add_link(
            context.trace_id,
            context.span_id,
            int(context.trace_flags),
            context.trace_state.to_header(),
            dict(attributes) if attributes else None,
        )

    def update_name(self, name: str) -> None:
        self._native.update_name(name)

    def set_status(self, status: Union[Status, StatusCode], description: Optional[str] = None) -> None:
        if isinstance(status, Status):
            code, description = status.status_code, status.description
        else:
            code = status
        if code is StatusCode.ERROR:
            self._native.set_error(description or "")
        elif code is StatusCode.OK:
            self._native.set_ok()

    def record_exception(
        self,
        exception: BaseException,
        attributes: Attributes = None,
        timestamp: Optional[int] = None,
        escaped: bool = False,
    ) -> None:
        # The API's record_exception adds the `exception` event only; the status is the
        # caller's to set (start_as_current_span does).
        kind, message, stacktrace = exception_parts(exception)
        fields: Dict[str, Any] = {"exception.type": kind, "exception.message": message, "exception.stacktrace": stacktrace}
        if escaped:
            fields["exception.escaped"] = True
        if attributes:
            fields.update(attributes)
        self._native.add_event("exception", fields)

    def end(self, end_time: Optional[int] = None) -> None:
        self._native.end(end_time)

    def __repr__(self) -> str:
        return f"<tasker_core BridgeSpan span_id={self._native.span_id}>"


class _RustSpan(NonRecordingSpan):
    """The Rust span that called into Python, as the API shows it: a context holding it stands
    for "no Python parent" (the core then takes the Rust span, with its correlation)."""


def _shown_span(shown: object) -> Tuple[trace.Span, Optional[RemoteContext]]:
    """The API's span for what ``_native.shown_parent`` gave, and the remote context it is."""
    if shown is None:
        return INVALID_SPAN, None
    if isinstance(shown, _native.Span):
        return BridgeSpan(shown), None
    if isinstance(shown, RemoteContext):
        return NonRecordingSpan(_span_context(shown.span_context, True)), shown
    return _RustSpan(_span_context(shown, False)), None  # type: ignore[arg-type]


def _remote_of(cx: SpanContext) -> RemoteContext:
    """A remote context of the core for a span context of another API object."""
    headers = {"traceparent": f"00-{cx.trace_id:032x}-{cx.span_id:016x}-{int(cx.trace_flags):02x}"}
    state = cx.trace_state.to_header()
    if state:
        headers["tracestate"] = state
    return _native.extract(headers)


_ROOT = _native.extract({})  # the parent of a new trace: an empty remote context


def _parent_of(ctx: Context) -> Tuple[Parent, Optional[Correlation]]:
    """The Python side's parent (and the correlation a remote one brings) for an API context:
    its span of the bridge, the Rust span's "no Python parent", a new trace for a context
    without a span, else a remote parent with the span's ids."""
    span = trace.get_current_span(ctx)
    if isinstance(span, BridgeSpan):
        return span._native, None
    if isinstance(span, _RustSpan):
        return None, None
    cx = span.get_span_context()
    if not cx.is_valid:
        return _ROOT, None
    remote = ctx.get(_REMOTE_KEY)
    if not isinstance(remote, RemoteContext) or remote.span_context[1] != cx.span_id:
        remote = _remote_of(cx)
    return remote, remote.correlation()


class _Attached:
    """What the bridge's runtime context holds: an attached ``Context`` (built on first
    :meth:`_RuntimeContext.get_current` when the bridge made it: ``base`` with ``span``) and
    the parent it made current for ``tracing.span``."""

    __slots__ = ("ctx", "parent", "base", "span")

    def __init__(self, ctx: Optional[Context], parent: Parent, base: Optional[Context] = None, span: Optional[trace.Span] = None) -> None:
        self.ctx = ctx
        self.parent = parent
        self.base = base
        self.span = span

    def context(self) -> Context:
        ctx = self.ctx
        if ctx is None:
            ctx = self.ctx = trace.set_span_in_context(self.span or INVALID_SPAN, self.base)
        return ctx


class _Token:
    __slots__ = ("api", "parent", "correlation", "value")

    def __init__(
        self,
        api: contextvars.Token,
        parent: contextvars.Token,
        correlation: Optional[contextvars.Token],
        value: Parent,
    ) -> None:
        self.api = api
        self.parent = parent
        self.correlation = correlation
        self.value = value  # the parent it made current


class _RuntimeContext(_ApiRuntimeContext):
    """The API's runtime context, sharing the current span with ``tracing.span`` (see the
    module's docstring). Contexts attached before the bridge stay with the runtime they were
    attached to (``previous``)."""

    def __init__(self, previous: _ApiRuntimeContext) -> None:
        self._previous = previous
        self._attached: contextvars.ContextVar[Optional[_Attached]] = contextvars.ContextVar(
            "tasker_core.opentelemetry_context", default=None
        )

    def attach(self, context: Context) -> object:
        parent, corr = _parent_of(context)
        api = self._attached.set(_Attached(context, parent))
        return _Token(api, parent_var.set(parent), correlation_var.set(corr) if corr is not None else None, parent)

    def attach_span(self, span: "BridgeSpan") -> _Token:
        """``attach(set_span_in_context(span))`` for a span of the bridge, without building the
        ``Context`` until someone asks for it."""
        attached = self._attached.get()
        if attached is None:
            base = self._previous.get_current()
        else:
            base = attached.ctx if attached.ctx is not None else attached.base
        native = span._native
        api = self._attached.set(_Attached(None, native, base, span))
        return _Token(api, parent_var.set(native), None, native)

    def get_current(self) -> Context:
        attached = self._attached.get()
        parent = parent_var.get()
        # What the core would parent a new span to (a Rust span entered since counts).
        shown = _native.shown_parent(parent)
        if attached is None:
            ctx = self._previous.get_current()
            if shown is None:
                return ctx
        elif attached.parent is parent and shown is parent:
            return attached.context()
        else:
            ctx = attached.context()
        span, remote = _shown_span(shown)
        ctx = trace.set_span_in_context(span, ctx)
        if remote is not None:
            ctx = otel_context.set_value(_REMOTE_KEY, remote, ctx)
        return ctx

    def detach(self, token: object) -> None:
        """Undoes an ``attach``, as ``tracing.span``'s exit does: a span that is not the
        innermost here any more (a generator closed inside another span), or whose context is
        another one (finished on another thread), is detached (it stands aside for its parent
        wherever a context still holds it) instead of resetting the current span."""
        if not isinstance(token, _Token):
            self._previous.detach(token)  # attached before the bridge
            return
        if token.correlation is not None:
            reset(correlation_var, token.correlation)
        leave(token.value, token.parent)
        self._attached.reset(token.api)  # raises for a token of another context (the API logs it)


_INTERNAL = SpanKind.INTERNAL


class _AsCurrent:
    """What ``tracer.start_as_current_span(...)`` returns: a context manager (and decorator)
    that starts a span, makes it current, and ends it on exit. A plain class: cheaper than the
    API's generator-based context manager."""

    __slots__ = ("_tracer", "_name", "_context", "_kind", "_attributes", "_links", "_flags", "_span", "_token")

    def __init__(
        self,
        tracer: "Tracer",
        name: str,
        context: Optional[Context],
        kind: SpanKind,
        attributes: Attributes,
        links: Optional[Sequence[Link]],
        flags: int,
    ) -> None:
        self._tracer = tracer
        self._name = name
        self._context = context
        self._kind = kind
        self._attributes = attributes
        self._links = links
        self._flags = flags  # 1: record_exception, 2: set_status_on_exception, 4: end_on_exit
        self._span: Optional[BridgeSpan] = None
        self._token: Optional[object] = None

    def __enter__(self) -> BridgeSpan:
        span = self._tracer.start_span(
            self._name, self._context, self._kind, self._attributes, self._links, None, self._flags & 1 != 0, self._flags & 2 != 0
        )
        self._span = span
        runtime = otel_context._RUNTIME_CONTEXT
        if isinstance(runtime, _RuntimeContext):
            self._token = runtime.attach_span(span)
        else:  # the runtime context was replaced after the bridge (another library)
            self._token = otel_context.attach(trace.set_span_in_context(span))
        return span

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        span, token = self._span, self._token
        if span is None:
            return
        self._span = self._token = None
        try:
            _on_exception(span, exc, self._flags)
        finally:
            try:
                if type(token) is _Token:
                    otel_context._RUNTIME_CONTEXT.detach(token)
                else:
                    otel_context.detach(token)
            except Exception:  # a token of another context (an async generator closed elsewhere)
                pass  # the span was detached for tracing.span; nothing to raise into user code
            finally:
                if self._flags & 4:
                    span._native.end()

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        def fresh() -> "_AsCurrent":
            return _AsCurrent(
                self._tracer, self._name, self._context, self._kind, self._attributes, self._links, self._flags
            )

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with fresh():
                    return await func(*args, **kwargs)

            return run_async

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with fresh():
                return func(*args, **kwargs)

        return run


class Tracer(trace.Tracer):
    """A tracer of the OpenTelemetry API whose spans are the core's. The instrumentation
    scope's name is the spans' target (what ``TASKER_LOG_LEVEL``-style filters match)."""

    __slots__ = ("_target",)

    def __init__(self, target: str) -> None:
        self._target = target

    def start_span(
        self,
        name: str,
        context: Optional[Context] = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Optional[Sequence[Link]] = None,
        start_time: Optional[int] = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> BridgeSpan:
        if context is None:
            parent, corr = parent_var.get(), correlation_var.get()
        else:
            parent, corr = _parent_of(context)
            if corr is None:
                corr = correlation_var.get()
        if attributes and type(attributes) is not dict:
            attributes = dict(attributes)
        native = _native.start_span(
            name, INFO, self._target, attributes or None, parent, corr, 0 if kind is _INTERNAL else kind._value_
        )
        span = BridgeSpan(native, (1 if record_exception else 0) | (2 if set_status_on_exception else 0))
        if links:
            for link in links:
                span.add_link(link.context, link.attributes)
        return span

    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: Optional[Context] = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Optional[Sequence[Link]] = None,
        start_time: Optional[int] = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> _AsCurrent:
        flags = (1 if record_exception else 0) | (2 if set_status_on_exception else 0) | (4 if end_on_exit else 0)
        return _AsCurrent(self, name, context, kind, attributes, links, flags)


class TracerProvider(trace.TracerProvider):
    """The OpenTelemetry API's tracer provider, backed by the core (installed by
    :func:`install`). ``force_flush`` and ``shutdown`` are ``tracing.flush`` and
    ``tracing.shutdown``."""

    def __init__(self) -> None:
        self._tracers: Dict[str, Tracer] = {}

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: Optional[str] = None,
        schema_url: Optional[str] = None,
        attributes: Attributes = None,
    ) -> Tracer:
        name = safe_str(instrumenting_module_name or "opentelemetry")
        tracer = self._tracers.get(name)
        if tracer is None:
            tracer = self._tracers.setdefault(name, Tracer(name))
        return tracer

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        from ._lifecycle import flush

        try:
            flush(timeout=timeout_millis / 1000)
            return True
        except TracingError:
            return False

    def shutdown(self) -> None:
        from ._lifecycle import shutdown

        shutdown()


# ------------------------------------------------------------------------------------------
# Metrics


def _labels(attributes: Attributes) -> Dict[str, Any]:
    return dict(attributes) if attributes else {}


class _Instrument:
    kind = ""

    def __init__(self, name: str, unit: str = "", description: str = "", **_advisory: Any) -> None:
        self.name = name
        self.unit = unit
        self.description = description

    def _record(self, value: Union[int, float], attributes: Attributes) -> None:
        try:
            _native.record_metric(self.kind, self.name, float(value), _labels(attributes))
        except TracingError as e:
            _warn_once(f"metric {self.name!r}: {e}")


class _Counter(_Instrument, otel_metrics.Counter):
    kind = "counter"

    def add(self, amount: Union[int, float], attributes: Attributes = None, context: Optional[Context] = None) -> None:
        if amount < 0:
            _warn_once(f"counter {self.name!r}: a negative amount ({amount}) is not added (use an up-down counter)")
            return
        self._record(amount, attributes)


class _UpDownCounter(_Instrument, otel_metrics.UpDownCounter):
    kind = "up_down_counter"

    def add(self, amount: Union[int, float], attributes: Attributes = None, context: Optional[Context] = None) -> None:
        self._record(amount, attributes)


class _Histogram(_Instrument, otel_metrics.Histogram):
    kind = "histogram"

    def record(self, amount: Union[int, float], attributes: Attributes = None, context: Optional[Context] = None) -> None:
        self._record(amount, attributes)


class _Gauge(_Instrument, otel_metrics._Gauge):  # the API's synchronous gauge
    kind = "gauge"

    def set(self, amount: Union[int, float], attributes: Attributes = None, context: Optional[Context] = None) -> None:
        self._record(amount, attributes)


class _Observable(_Instrument):
    """An asynchronous instrument: its callbacks run on the bridge's collection thread every
    ``OTEL_METRIC_EXPORT_INTERVAL`` and their observations are recorded as the synchronous
    kind (counters as the increase since the last observation)."""

    def __init__(self, name: str, callbacks: Optional[Sequence[Callable[..., Any]]] = None, unit: str = "", description: str = "") -> None:
        super().__init__(name, unit, description)
        self.callbacks = list(callbacks or ())
        self.last: Dict[Tuple[Tuple[str, Any], ...], float] = {}
        _COLLECTOR.add(self)

    def observe(self) -> None:
        options = otel_metrics.CallbackOptions()
        for callback in self.callbacks:
            try:
                observations = callback(options)
                for obs in observations:
                    self.take(float(obs.value), obs.attributes)
            except Exception as e:  # a failing callback must not stop the others
                _warn_once(f"observable instrument {self.name!r}: callback failed: {qualified_type(e)}: {e}")

    def take(self, value: float, attributes: Attributes) -> None:
        self._record(value, attributes)


class _ObservableGauge(_Observable, otel_metrics.ObservableGauge):
    kind = "gauge"


class _ObservableCounter(_Observable, otel_metrics.ObservableCounter):
    kind = "counter"

    def take(self, value: float, attributes: Attributes) -> None:
        key = tuple(sorted((attributes or {}).items()))
        before = self.last.get(key)
        self.last[key] = value
        if before is None:
            self._record(value, attributes)
        elif value >= before:
            if value > before:
                self._record(value - before, attributes)
        else:  # a reset: count from zero again
            self._record(value, attributes)


class _ObservableUpDownCounter(_ObservableCounter, otel_metrics.ObservableUpDownCounter):
    kind = "up_down_counter"

    def take(self, value: float, attributes: Attributes) -> None:
        key = tuple(sorted((attributes or {}).items()))
        before = self.last.get(key, 0.0)
        self.last[key] = value
        if value != before:
            self._record(value - before, attributes)


class _Collector:
    """Runs the callbacks of observable instruments on one daemon thread (started with the
    first one), every ``OTEL_METRIC_EXPORT_INTERVAL`` milliseconds (default 60000)."""

    def __init__(self) -> None:
        self._instruments: list = []
        self._lock = threading.Lock()
        self._observing = threading.Lock()  # one collection at a time (thread, force_flush)
        self._thread: Optional[threading.Thread] = None
        self._wake = threading.Event()

    def add(self, instrument: _Observable) -> None:
        with self._lock:
            self._instruments.append(instrument)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="tasker-otel-observe", daemon=True)
                self._thread.start()

    def collect(self) -> None:
        """Runs every callback once (also what ``MeterProvider.force_flush`` does)."""
        with self._lock:
            instruments = list(self._instruments)
        with self._observing:
            for instrument in instruments:
                instrument.observe()

    def after_fork_in_child(self) -> None:
        """A forked child has no collection thread: start one when instruments exist."""
        self._lock = threading.Lock()
        self._observing = threading.Lock()
        self._thread = None
        if self._instruments:
            self._thread = threading.Thread(target=self._run, name="tasker-otel-observe", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            interval = max(float(os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "60000")), 100.0) / 1000
        except ValueError:
            interval = 60.0
        while True:
            self._wake.wait(interval)
            self._wake.clear()
            self.collect()


_COLLECTOR = _Collector()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_COLLECTOR.after_fork_in_child)


class Meter(otel_metrics.Meter):
    """A meter of the OpenTelemetry API recording through the core (``tracing.counter`` and
    friends): the same export, label rules and instrument limit."""

    def create_counter(self, name: str, unit: str = "", description: str = "") -> otel_metrics.Counter:
        return _Counter(name, unit, description)

    def create_up_down_counter(self, name: str, unit: str = "", description: str = "") -> otel_metrics.UpDownCounter:
        return _UpDownCounter(name, unit, description)

    def create_histogram(self, name: str, unit: str = "", description: str = "", **advisory: Any) -> otel_metrics.Histogram:
        return _Histogram(name, unit, description)

    def create_gauge(self, name: str, unit: str = "", description: str = "") -> Any:
        return _Gauge(name, unit, description)

    def create_observable_counter(self, name: str, callbacks: Any = None, unit: str = "", description: str = "") -> Any:
        return _ObservableCounter(name, callbacks, unit, description)

    def create_observable_gauge(self, name: str, callbacks: Any = None, unit: str = "", description: str = "") -> Any:
        return _ObservableGauge(name, callbacks, unit, description)

    def create_observable_up_down_counter(
        self, name: str, callbacks: Any = None, unit: str = "", description: str = ""
    ) -> Any:
        return _ObservableUpDownCounter(name, callbacks, unit, description)


class MeterProvider(otel_metrics.MeterProvider):
    """The OpenTelemetry API's meter provider, backed by the core."""

    def get_meter(
        self,
        name: str,
        version: Optional[str] = None,
        schema_url: Optional[str] = None,
        attributes: Attributes = None,
    ) -> Meter:
        return Meter(name, version, schema_url)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        _COLLECTOR.collect()
        return TracerProvider().force_flush(int(timeout_millis))


# ------------------------------------------------------------------------------------------
# Propagation


def _otel_baggage(ctx: Optional[Context], header: Optional[str]) -> Optional[str]:
    """``header`` (the core's baggage) with the API's baggage entries it does not hold."""
    entries = otel_baggage.get_all(ctx)
    if not entries:
        return header
    have = set()
    if header:
        have = {member.split("=", 1)[0].strip() for member in header.split(",")}
    extra = [f"{quote(str(k), safe='')}={quote(str(v), safe='')}" for k, v in entries.items() if quote(str(k), safe="") not in have]
    if not extra:
        return header
    return ",".join(([header] if header else []) + extra)


class Propagator(textmap.TextMapPropagator):
    """``traceparent``, ``tracestate`` and ``baggage`` (with the correlation) through the core:
    what ``tracing.inject()`` writes and ``tracing.remote_context`` reads, for the API's
    ``propagate.inject``/``extract``."""

    _FIELDS = frozenset({"traceparent", "tracestate", "baggage"})

    def inject(
        self,
        carrier: textmap.CarrierT,
        context: Optional[Context] = None,
        setter: textmap.Setter[textmap.CarrierT] = textmap.default_setter,
    ) -> None:
        if context is None:
            parent, corr = parent_var.get(), correlation_var.get()
        else:
            parent, corr = _parent_of(context)
            if corr is None:
                corr = correlation_var.get()
        headers = _native.inject(parent, corr)
        if _native.propagates_baggage():
            bag = _otel_baggage(context, headers.get("baggage"))
            if bag:
                headers["baggage"] = bag
        for name, value in headers.items():
            setter.set(carrier, name, value)

    def extract(
        self,
        carrier: textmap.CarrierT,
        context: Optional[Context] = None,
        getter: textmap.Getter[textmap.CarrierT] = textmap.default_getter,
    ) -> Context:
        ctx = Context() if context is None else context
        headers: Dict[str, str] = {}
        for name in ("traceparent", "tracestate", "baggage"):
            values = getter.get(carrier, name)
            if values:
                headers[name] = ",".join(values)
        if not headers:
            return ctx
        remote = _native.extract(headers)
        if remote.is_valid:
            ctx = trace.set_span_in_context(NonRecordingSpan(_span_context(remote.span_context, True)), ctx)
            ctx = otel_context.set_value(_REMOTE_KEY, remote, ctx)
        if "baggage" in headers and _native.propagates_baggage():
            from opentelemetry.baggage.propagation import W3CBaggagePropagator

            ctx = W3CBaggagePropagator().extract({"baggage": headers["baggage"]}, ctx)
        return ctx

    @property
    def fields(self) -> set:
        return set(self._FIELDS)


# ------------------------------------------------------------------------------------------
# Installation

_warned: set = set()


def _warn_once(line: str) -> None:
    if line not in _warned:
        _warned.add(line)
        from ._events import warn

        warn(line)


def _class_name(obj: object) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def _other_provider() -> Optional[str]:
    provider = trace.get_tracer_provider()
    if isinstance(provider, (trace.ProxyTracerProvider, TracerProvider)):
        return None
    return _class_name(provider)


def is_installed() -> bool:
    """Whether the API's tracer provider is the bridge's."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


_install_lock = threading.Lock()


def install(request: str) -> bool:
    """Installs the bridge when the core decides so (``request``: ``startup``, ``explicit``,
    ``replace``); True when it is in place."""
    with _install_lock:
        if is_installed():
            return True
        other = _other_provider()
        if not _native.bridge_decision(request, True, other):
            return False
        provider = TracerProvider()
        if other is None:
            trace.set_tracer_provider(provider)
        else:
            # The API sets its provider once; replacing one (mode `on`, replace=True) has no
            # public call.
            trace._TRACER_PROVIDER = provider  # type: ignore[attr-defined]
        from opentelemetry.metrics import _internal as metrics_internal

        current_meters = otel_metrics.get_meter_provider()
        if isinstance(current_meters, metrics_internal._ProxyMeterProvider):
            otel_metrics.set_meter_provider(MeterProvider())
        elif other is not None:
            metrics_internal._METER_PROVIDER = MeterProvider()
        otel_propagate.set_global_textmap(Propagator())
        if not isinstance(otel_context._RUNTIME_CONTEXT, _RuntimeContext):
            # The API reads its runtime context from this module attribute on every call.
            otel_context._RUNTIME_CONTEXT = _RuntimeContext(otel_context._RUNTIME_CONTEXT)
        return True

