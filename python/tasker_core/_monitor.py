"""``monitor(name)``: the duration and the process's memory growth of an operation, with the
``slow_operation`` and ``memory_spike`` warnings (the core's ``monitor``)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Optional

from . import _native


@dataclass(frozen=True)
class MonitorReport:
    """What a monitored operation measured."""

    duration_ms: float
    #: Resident memory after minus before, bytes (``None`` where the platform does not say).
    memory_delta_bytes: Optional[int]
    #: Over ``telemetry.slow_operations.threshold_ms`` (a ``slow_operation`` warning was logged).
    slow: bool
    #: Over ``telemetry.slow_operations.memory_threshold_mb`` (a ``memory_spike`` warning).
    memory_spike: bool


class monitor(contextlib.ContextDecorator):  # noqa: N801 - used like a function
    """Monitors the block (or, as a decorator, each call): its duration is recorded in
    ``tasker_monitored_operation_duration{operation}``; past the slow threshold a
    ``slow_operation`` warning is logged and counted; a resident-memory growth past
    ``telemetry.slow_operations.memory_threshold_mb`` logs ``memory_spike``::

        with tracing.monitor("import_batch") as m:
            load(rows)
        print(m.report.duration_ms)
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.report: Optional[MonitorReport] = None
        self._native: Optional[_native.Monitor] = None

    def _recreate_cm(self) -> "monitor":
        return monitor(self.name)

    def __enter__(self) -> "monitor":
        self._native = _native.Monitor(self.name)
        return self

    def __exit__(self, *exc: Any) -> None:
        native, self._native = self._native, None
        if native is not None:
            parts = native.finish()
            if parts is not None:
                self.report = MonitorReport(*parts)
