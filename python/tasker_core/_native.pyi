"""Type stub of ``tasker_core._native``, the Rust extension behind :mod:`tasker_core.tracing`.

Not a public API: use :mod:`tasker_core.tracing`. Name, message and key arguments accept any
object (``str()`` of it, lone surrogates replaced); level arguments are indexes
(0 = trace, 1 = debug, 2 = info, 3 = warn, 4 = error). ``parent`` is the Python-side current
span or remote context; ``None`` means the Rust span current on this thread (a Rust caller), or
no parent when the thread's current span is another context's Python span.
"""

from os import PathLike
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, TypeVar, Union

T = TypeVar("T")

CYCLE_MARKER: str
"""The string that replaces a container met again inside itself."""

class TracingError(Exception):
    """Raised when telemetry cannot do what was asked (invalid configuration, a bad id, a failed flush)."""

class Correlation:
    """A correlation id with the optional workflow ids."""

    @staticmethod
    def from_parts(
        correlation_id: Optional[str] = None,
        parent_correlation_id: Optional[str] = None,
        task_uuid: Optional[str] = None,
        step_uuid: Optional[str] = None,
        namespace: Optional[str] = None,
    ) -> Correlation:
        """Builds a correlation (UUIDv7 when ``correlation_id`` is missing); TracingError for a bad UUID."""
    @property
    def correlation_id(self) -> str:
        """The correlation id."""
    @property
    def parent_correlation_id(self) -> Optional[str]:
        """The parent correlation id."""
    @property
    def task_uuid(self) -> Optional[str]:
        """The task UUID."""
    @property
    def step_uuid(self) -> Optional[str]:
        """The step UUID."""
    @property
    def namespace(self) -> Optional[str]:
        """The namespace."""
    def to_dict(self) -> Dict[str, str]:
        """The fields that are set."""

class RemoteContext:
    """A trace context received from another process."""

    @property
    def is_valid(self) -> bool:
        """Whether the headers held a valid trace context."""
    @property
    def trace_id(self) -> Optional[str]:
        """The remote trace id."""
    @property
    def span_id(self) -> Optional[str]:
        """The remote parent span id."""
    def correlation(self) -> Optional[Correlation]:
        """The correlation carried in baggage."""

class Span:
    """A span started from Python; ends on ``end()`` or when collected."""

    @property
    def trace_id(self) -> Optional[str]:
        """Trace id (32 hex digits), ``None`` when not recorded."""
    @property
    def span_id(self) -> Optional[str]:
        """Span id (16 hex digits), ``None`` when not recorded."""
    @property
    def is_recording(self) -> bool:
        """Whether any output records the span."""
    def set(self, key: str, value: Any) -> None:
        """Sets an attribute."""
    def add_event(self, name: str, fields: Optional[Dict[str, Any]] = None) -> None:
        """Adds a span event."""
    def record_exception(self, kind: str, message: str, stacktrace: Optional[str] = None) -> None:
        """Records an exception and error status."""
    def set_error(self, description: str) -> None:
        """Sets error status."""
    def enter(self) -> None:
        """Makes the span current on this thread (pair with ``exit``)."""
    def exit(self) -> None:
        """Undoes ``enter``."""
    def end(self, exit: bool = False) -> None:
        """Ends the span (idempotent); with ``exit``, undoes ``enter`` first."""

_Parent = Union[Span, RemoteContext]

def start_span(
    name: str,
    level: int,
    target: str,
    fields: Optional[Dict[str, Any]] = None,
    parent: Optional[_Parent] = None,
    correlation: Optional[Correlation] = None,
    enter: bool = False,
) -> Span:
    """Starts a span (with ``enter``, also makes it current on this thread)."""

def start_handler_span(
    handler_name: str,
    context: Optional[Dict[str, Any]] = None,
    parent: Optional[_Parent] = None,
    correlation: Optional[Correlation] = None,
    enter: bool = False,
) -> Tuple[Span, Correlation]:
    """Starts the ``handler_execution`` span; returns it and the step's correlation (with
    ``enter``, the span is also made current on this thread)."""

def event(
    level: int,
    target: str,
    message: object,
    fields: Optional[Dict[str, Any]] = None,
    parent: Optional[_Parent] = None,
    correlation: Optional[Correlation] = None,
) -> None:
    """Emits a log event."""

def inject(
    parent: Optional[_Parent] = None, correlation: Optional[Correlation] = None,
) -> Dict[str, str]:
    """W3C headers for the given parent and correlation."""

def extract(headers: Dict[Any, Any]) -> RemoteContext:
    """Reads a remote context from W3C headers (keys and values as ``str()``)."""

def current(
    parent: Optional[_Parent] = None, correlation: Optional[Correlation] = None,
) -> Tuple[Optional[str], Optional[str], Optional[Correlation]]:
    """``(trace_id, span_id, correlation)`` of the span a new span would get as its parent."""

def init_logging() -> Optional[str]:
    """Console logging from the environment; returns a warning when that configuration is invalid."""

def init(config_path: Optional[Union[str, PathLike[str]]] = None, overrides: Sequence[Tuple[str, str]] = ...) -> None:
    """Starts telemetry with export."""

def is_initialized() -> bool:
    """Whether ``init`` has run and ``shutdown`` has not."""

def flush(timeout: float) -> None:
    """Exports everything buffered (GIL released)."""

def shutdown(timeout: float) -> None:
    """Flushes and stops export (GIL released)."""

def shutdown_timeout() -> float:
    """``telemetry.otlp.shutdown_timeout_ms`` in seconds: how long the exit flush may wait."""

def before_fork() -> None:
    """Fork hook: exports what is queued."""

def after_fork_in_child() -> None:
    """Fork hook: rebuilds the exporters in the child."""

def level_index(name: str) -> int:
    """The index of a level name; TracingError for an unknown one."""

def max_level_index() -> int:
    """The most verbose level any output records (5 = off)."""

def record_metric(kind: str, name: str, value: float, labels: Optional[Dict[str, Any]] = None) -> None:
    """Records a metric value (``counter``, ``up_down_counter``, ``histogram``, ``gauge``)."""

def lifecycle(
    name: str,
    duration_ms: Optional[float] = None,
    labels: Optional[Dict[str, Any]] = None,
    fields: Optional[Dict[str, Any]] = None,
    parent: Optional[_Parent] = None,
    correlation: Optional[Correlation] = None,
) -> None:
    """Emits a lifecycle event (``task.*``/``step.*``) along the core's route."""

def run_step(message: Dict[str, Any], callback: Callable[[], T]) -> T:
    """Calls ``callback()`` as the step ``message`` inside the Rust ``execute_step`` span."""

def stats() -> Dict[str, int]:
    """Export counters: ``spans_started``, ``spans_ended``, ``spans_exported``, ``spans_dropped``,
    ``spans_pending``, ``logs_dropped``, ``metrics_dropped``."""

def _testing_rust_span(
    name: str, callback: Callable[[], T], correlation_id: Optional[str] = None
) -> Tuple[T, Optional[str], Optional[str]]:
    """Test hook: calls ``callback`` inside a Rust ``info_span!``; returns ``(result, trace_id, span_id)``."""

class _TestingCapture:
    """Test hook: the production pipeline with spans and console lines kept in memory."""

    def __init__(self, overrides: Sequence[Tuple[str, str]] = ...) -> None: ...
    def run(self, callback: Callable[[], T]) -> T:
        """Calls ``callback`` with this capture as the thread's pipeline."""
    def spans(self) -> List[Dict[str, Any]]:
        """Spans ended so far."""
    def lines(self) -> List[str]:
        """Console lines written so far."""

def _noop() -> None:
    """Bench helper: a call into the extension that does nothing (the floor of a crossing)."""

def _bench_rust_spans(n: int) -> None:
    """Bench helper: ``n`` dynamic spans with 3 fields started, entered, exited and ended in Rust."""

class _BenchPipeline:
    """Bench helper: the core's benchmark pipeline (JSON lines to /dev/null, batch export to an
    exporter that discards, an SDK meter)."""

    def __init__(self) -> None: ...
    def run(self, callback: Callable[[], T]) -> T:
        """Calls ``callback`` with this pipeline as the thread's subscriber."""
