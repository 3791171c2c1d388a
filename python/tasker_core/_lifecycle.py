"""Life cycle: what happens at import (the core's start-up policy), ``init``, ``flush``,
``shutdown``, the exit flush and the fork hooks."""

from __future__ import annotations

import atexit
import importlib.util
import os
import sys
from typing import Any, Dict, Optional, Union

from . import _events, _native
from ._native import TracingError
from ._util import report, seconds


def init(config_path: Optional[Union[str, "os.PathLike[str]"]] = None, **overrides: Any) -> None:
    """Starts telemetry with export. The configuration is read from ``config_path`` (or
    ``TASKER_CONFIG``), the ``TASKER_ENV`` overlay and the ``OTEL_*`` / ``TASKER_*``
    environment variables, then ``overrides``: configuration keys without the ``telemetry.``
    prefix, with ``_`` after the section (``service_name="worker"``, ``otlp_endpoint=url``,
    ``logging_format="json"``; dotted keys work too), as Python values (str, numbers, bools,
    lists such as ``logging_redact_keys``, dicts such as ``otlp_headers``; ``None`` leaves a key
    as configured). After the automatic start at import (an export variable was set), it
    applies the overrides: export restarts, nothing recorded is lost. Raises ConfigError for an
    invalid configuration or a second call."""
    try:
        path = None if config_path is None else os.fsdecode(config_path)
    except TypeError:
        raise TracingError(
            f"init config_path must be a path (str or os.PathLike), got {type(config_path).__qualname__}"
        ) from None
    _native.init(path, overrides)
    _events.refresh_max_level()


def is_initialized() -> bool:
    """Whether telemetry has started (at import or by :func:`init`) and not shut down."""
    return _native.is_initialized()


def is_exporting() -> bool:
    """Whether spans currently leave the process (to a collector or a file)."""
    return _native.is_exporting()


def flush(timeout: Optional[float] = None) -> None:
    """Exports everything buffered, waiting at most ``timeout`` seconds (default
    ``telemetry.otlp.shutdown_timeout_ms``; the GIL is released meanwhile). Raises TracingError
    when something could not be delivered, naming what: spans still queued or in an export
    request when the time ran out, or lost in failed requests."""
    _native.flush(None if timeout is None else seconds(timeout, "flush timeout"))


def shutdown(timeout: Optional[float] = None) -> None:
    """Flushes and stops export (idempotent; the GIL is released meanwhile). Console logging
    goes on; telemetry cannot be initialised again. Raises TracingError on a delivery failure."""
    _native.shutdown(None if timeout is None else seconds(timeout, "shutdown timeout"))


def stats() -> Dict[str, int]:
    """The process's export counters (a forked child starts at zero): ``spans_started``,
    ``spans_ended`` (handed to the export queue), ``spans_exported`` (accepted by the
    collector), ``spans_dropped`` (queue full, failed export, or after shutdown),
    ``spans_pending`` (queued or in an export request), ``logs_dropped``,
    ``metrics_dropped``, ``attributes_dropped`` (keys past the attribute count limit) and
    ``attributes_truncated`` (values cut to the length limit)."""
    return _native.stats()


def _flush_at_exit() -> None:
    """Delivers what is buffered when the interpreter exits (normally, ``sys.exit``, an
    uncaught exception, the end of a forked ``multiprocessing`` child), waiting at most
    ``telemetry.otlp.shutdown_timeout_ms``. Not run on ``os._exit`` or a signal's default
    action (see the README on SIGTERM)."""
    if _native.is_exporting():
        try:
            _native.flush(None)
        except Exception as exc:
            report("flush at exit", exc)


def _after_fork_in_child() -> None:
    try:
        _native.after_fork_in_child()
    except Exception as exc:
        report("re-creating exporters after fork", exc)
    _flush_multiprocessing_children()


class _ForkMarker:
    """The object ``multiprocessing.util.register_after_fork`` keys our hook by."""


_FORK_MARKER = _ForkMarker()


def _flush_multiprocessing_children() -> None:
    """A ``multiprocessing`` child started by fork (``Process``, ``Pool`` workers) ends with
    ``os._exit``, which skips ``atexit``: flush from multiprocessing's own exit finalisers
    instead. Registered through ``register_after_fork`` because a child's finaliser registry is
    cleared after ``os.fork`` returns (and after this hook has run)."""
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        util.register_after_fork(_FORK_MARKER, _register_exit_flush)


def _register_exit_flush(_marker: object) -> None:
    util = sys.modules["multiprocessing.util"]
    util.Finalize(None, _flush_at_exit, exitpriority=0)


def _api_importable() -> bool:
    try:
        return importlib.util.find_spec("opentelemetry.trace") is not None
    except (ImportError, ValueError):
        return False


def install_opentelemetry_bridge(replace: bool = False) -> bool:
    """Makes the OpenTelemetry API (``opentelemetry-api``) record through this package: its
    tracer provider, meter provider, propagator and context become the core's, so spans of
    libraries instrumented through the API join the current trace and ``tracing.span`` nests
    with them both ways. Done at import unless ``TASKER_OPENTELEMETRY_BRIDGE=off`` (or when
    another SDK's provider was set first: then this call keeps it and warns, unless
    ``replace=True``). Returns whether the bridge is in place. Raises TracingError when
    ``opentelemetry-api`` is not installed."""
    if not _api_importable():
        raise TracingError("install_opentelemetry_bridge needs the opentelemetry-api package: pip install opentelemetry-api")
    from . import _bridge

    return _bridge.install("replace" if replace else "explicit")


def _bridge_at_startup() -> None:
    """The bridge at import, as ``telemetry.opentelemetry_bridge`` says (the core decides)."""
    if _native.bridge_mode() == "off" or not _api_importable():
        return
    try:
        from . import _bridge

        _bridge.install("startup")
    except Exception as exc:  # an incompatible opentelemetry-api: say so, keep working
        _events.warn(f"the OpenTelemetry API bridge was not installed: {type(exc).__name__}: {exc}")


def setup() -> None:
    """At import: console logging, and export when the environment asks for it (the core's
    start-up policy; an invalid setting has printed its error line, and the console uses the
    defaults)."""
    _native.startup()
    _events.refresh_max_level()
    from ._runtime import start_watcher

    start_watcher()
    _bridge_at_startup()
    atexit.register(_flush_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_native.before_fork, after_in_child=_after_fork_in_child)
