"""Operating it: the Prometheus text of the core's metrics (and a WSGI app serving it), health
components for ``/health/ready``, and readiness. The probe server (``OTEL_METRICS_EXPORTER``
with ``prometheus``) is the core's, on its own thread; it never calls into Python."""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from . import _native

CONTENT_TYPE: str = _native.PROMETHEUS_CONTENT_TYPE


def prometheus_text() -> str:
    """The core's metrics in the Prometheus text format 0.0.4, as ``/metrics`` serves them (for
    an application that serves HTTP itself; see :func:`prometheus_wsgi_app`). Raises
    TracingError when ``prometheus`` is not among ``OTEL_METRICS_EXPORTER``."""
    return _native.prometheus_text()


def set_health(component: str, status: str, reason: Optional[str] = None) -> None:
    """Sets a health component pushed by the application: ``status`` is ``"healthy"``,
    ``"degraded"`` or ``"unhealthy"`` (an ``unhealthy`` one makes ``/health/ready`` answer 503).
    Raises TracingError for another status or an invalid name."""
    _native.set_health(component, status, reason)


def readiness() -> Tuple[bool, List[str]]:
    """``(ready, reasons)``: what ``/health/ready`` answers (reasons when not ready)."""
    return _native.readiness()


def health_detailed() -> Dict[str, Any]:
    """The document of ``/health/detailed``: overall status, components, export statistics per
    signal, uptime and version."""
    return json.loads(_native.health_detailed())


StartResponse = Callable[[str, List[Tuple[str, str]]], Any]


def prometheus_wsgi_app(environ: Dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """A WSGI application serving :func:`prometheus_text` (mount it at ``/metrics``)::

        from werkzeug.middleware.dispatcher import DispatcherMiddleware
        app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {"/metrics": tracing.prometheus_wsgi_app})

    ``GET`` and ``HEAD`` only (405 otherwise); 503 with the reason when the metrics are not
    kept for Prometheus."""
    method = environ.get("REQUEST_METHOD", "GET")
    if method not in ("GET", "HEAD"):
        start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"), ("Content-Type", "text/plain")])
        return [b"method not allowed\n"]
    try:
        body = prometheus_text().encode()
    except _native.TracingError as exc:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [f"{exc}\n".encode()]
    start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
    return [b"" if method == "HEAD" else body]
