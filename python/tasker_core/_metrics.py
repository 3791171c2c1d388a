"""Metrics and lifecycle events."""

from __future__ import annotations

import numbers
from typing import Any, Mapping, Optional

from . import _native
from ._context import context
from ._native import TracingError
from ._util import mapping, safe_repr, safe_str


def _number(name: Any, value: Any) -> float:
    """``value`` as a float when it is a real number (not a bool, not a string: as in Ruby)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TracingError(
            f"metric {safe_str(name)!r}: value must be a real number, got {type(value).__qualname__} {safe_repr(value)}"
        )
    try:
        return float(value)
    except Exception:
        raise TracingError(f"metric {safe_str(name)!r}: value {safe_repr(value)} is not a number") from None


def counter(name: str, value: float = 1, **labels: Any) -> None:
    """Adds ``value`` to the counter ``name`` (names from the core's catalogue, such as
    ``tasker_steps_claimed_total``, carry their unit and description). ``correlation_id``,
    ``trace_id`` and ``span_id`` labels are dropped (unbounded cardinality). Raises TracingError
    for a value that is not a number."""
    _native.record_metric("counter", name, _number(name, value), labels)


def up_down_counter(name: str, value: float, **labels: Any) -> None:
    """Adds ``value`` (may be negative) to the up-down counter ``name``."""
    _native.record_metric("up_down_counter", name, _number(name, value), labels)


def histogram(name: str, value: float, **labels: Any) -> None:
    """Records ``value`` in the histogram ``name`` (e.g. ``tasker_step_execution_duration``, in
    ms)."""
    _native.record_metric("histogram", name, _number(name, value), labels)


def gauge(name: str, value: float, **labels: Any) -> None:
    """Sets the gauge ``name`` to ``value``."""
    _native.record_metric("gauge", name, _number(name, value), labels)


def lifecycle(
    name: str, duration_ms: Optional[float] = None, labels: Optional[Mapping[str, Any]] = None, **fields: Any
) -> None:
    """Emits the lifecycle event ``name`` (``task.initialized`` ... ``step.retry_scheduled``)
    along the core's route: span event on the current span, log line, counter and, with
    ``duration_ms``, the duration histogram. Raises TracingError for an unknown name."""
    duration = None if duration_ms is None else _number(name, duration_ms)
    parent, corr = context()
    _native.lifecycle(name, duration, mapping(labels, "lifecycle labels"), fields, parent, corr)
