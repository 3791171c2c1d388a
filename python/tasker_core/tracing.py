"""Spans, structured logs, correlation, W3C propagation and metrics for Tasker step handlers,
recorded by the ``tasker-telemetry`` Rust core (console/JSON lines, OTLP export, redaction).

The Python twin of the Ruby gem's ``TaskerCore::Tracing``::

    from tasker_core import tracing

    with tracing.correlation(namespace="payments"):
        with tracing.span("charge", order_id=42) as span:
            tracing.info("charged", amount=9.5)
            span.set("receipt", "r-1")

At import, the core's start-up policy runs (the same in Ruby): console logging from the
environment (``TASKER_LOG_FORMAT``, ``TASKER_LOG_LEVEL``, ...), and export when
``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``OTEL_METRICS_EXPORTER=prometheus``,
``TASKER_OTLP_FILE`` or
``TASKER_CONFIG`` is set (``TASKER_TRACING_AUTO_INIT=0`` turns that off). An invalid setting
prints one error line naming it, and the console uses the defaults. :func:`init` starts export
explicitly (or applies its overrides over the automatic start).

The current span and correlation live in :mod:`contextvars`: each ``asyncio`` task keeps its
own, and ``contextvars.copy_context().run`` carries them to a thread (a
``ThreadPoolExecutor`` or ``loop.run_in_executor`` job starts empty otherwise). Python code
called while a Rust span is current (the orchestrator running a handler in-process) nests under
it.

When ``opentelemetry-api`` is installed, its tracer provider, meter provider, propagator and
context become this package's at import (``TASKER_OPENTELEMETRY_BRIDGE``: ``auto``, ``on``,
``off``; see :func:`install_opentelemetry_bridge`): spans of libraries instrumented through the
OpenTelemetry API join the trace, and ``trace.get_current_span()`` inside ``tracing.span`` is
that span.

Log calls (:func:`info` and friends, :class:`LoggingHandler`) never raise: a failure is
reported once on stderr. Everything else raises :class:`TracingError` on invalid input (a wrong
type included, never a bare ``TypeError``), and :class:`ConfigError` (a ``TracingError``) for
an invalid configuration. Names, messages and keys of any type are taken as ``str(value)``
(``<unprintable TYPE>`` when that raises; lone surrogates replaced).
"""

from __future__ import annotations

from ._context import (
    correlation,
    current_correlation_id,
    current_span_id,
    current_trace_id,
    inject,
    remote_context,
    run_step,
)
from ._events import (
    Level,
    critical,
    debug,
    enabled,
    error,
    event,
    fatal,
    info,
    trace,
    warn,
    warning,
)
from ._health import health_detailed, prometheus_text, prometheus_wsgi_app, readiness, set_health
from ._lifecycle import (
    flush,
    init,
    install_opentelemetry_bridge,
    is_exporting,
    is_initialized,
    setup as _setup,
    shutdown,
    stats,
)
from ._logging import LoggingHandler, install_logging
from ._monitor import MonitorReport, monitor
from ._runtime import reload_config, set_export_level, set_level, set_runtime
from ._metrics import counter, gauge, histogram, lifecycle, up_down_counter
from ._native import ConfigError, Correlation, RemoteContext, TracingError
from ._spans import Span, handler_span, instrument, span, start_span, use_span

__all__ = [
    "ConfigError",
    "Correlation",
    "Level",
    "LoggingHandler",
    "MonitorReport",
    "RemoteContext",
    "Span",
    "TracingError",
    "counter",
    "correlation",
    "critical",
    "current_correlation_id",
    "current_span_id",
    "current_trace_id",
    "debug",
    "enabled",
    "error",
    "event",
    "fatal",
    "flush",
    "gauge",
    "handler_span",
    "health_detailed",
    "histogram",
    "info",
    "init",
    "inject",
    "install_logging",
    "install_opentelemetry_bridge",
    "instrument",
    "is_exporting",
    "is_initialized",
    "lifecycle",
    "monitor",
    "prometheus_text",
    "prometheus_wsgi_app",
    "readiness",
    "reload_config",
    "remote_context",
    "run_step",
    "set_export_level",
    "set_health",
    "set_level",
    "set_runtime",
    "shutdown",
    "span",
    "start_span",
    "stats",
    "trace",
    "up_down_counter",
    "use_span",
    "warn",
    "warning",
]

_setup()
