"""Type stub of ``tasker_core._native``, the Rust extension behind :mod:`tasker_core.tracing`.

Not a public API: use :mod:`tasker_core.tracing`. It lists what a released wheel ships (test
and bench hooks exist only in builds with the ``testing`` feature). Name, message and key
arguments accept any object (``str()`` of it, lone surrogates replaced); level arguments are
indexes (0 = trace, 1 = debug, 2 = info, 3 = warn, 4 = error). ``parent`` is the Python-side
current span or remote context; with none, a new span's parent is the Rust span that called
into Python (if any). The parent rule is the core's (``tasker_telemetry::foreign::resolve``).
"""

from contextvars import ContextVar
from os import PathLike
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar, Union

T = TypeVar("T")

class TracingError(Exception):
    """Raised when telemetry cannot do what was asked (a bad id, a failed flush, invalid input)."""

class ConfigError(TracingError):
    """Raised for an invalid telemetry configuration, or a second explicit init()."""

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
    @property
    def span_context(self) -> Tuple[int, int, int, str]:
        """``(trace_id, span_id, trace_flags, tracestate)``, the ids as integers (0 when invalid)."""
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
    @property
    def is_finished(self) -> bool:
        """Whether it has ended."""
    def set(self, key: str, value: Any) -> None:
        """Sets an attribute."""
    def add_event(self, name: str, fields: Optional[Dict[str, Any]] = None) -> None:
        """Adds a span event."""
    def record_exception(self, kind: str, message: str, stacktrace: Optional[str] = None) -> None:
        """Records an exception and sets the error status."""
    def set_error(self, description: str) -> None:
        """Sets the error status."""
    def end(self, end_time: Optional[int] = None) -> None:
        """Ends the span (idempotent); ``end_time`` in nanoseconds since the epoch, else now."""
    def set_ok(self) -> None:
        """Sets the OK status."""
    def update_name(self, name: str) -> None:
        """Renames the exported span."""
    def add_link(
        self,
        trace_id: int,
        span_id: int,
        flags: int = 0,
        trace_state: Optional[str] = None,
        fields: Optional[Dict[str, Any]] = None,
    ) -> None:
        """Adds a link to another span (invalid ids are ignored)."""
    @property
    def span_context(self) -> Tuple[int, int, int, str]:
        """``(trace_id, span_id, trace_flags, tracestate)``, the ids as integers (0 when not recorded)."""
    @property
    def is_sampled(self) -> bool:
        """Whether the span is sampled for export."""
    def detach(self) -> None:
        """Marks the span as no longer current anywhere (its contextvar could not be reset)."""

Parent = Union[Span, RemoteContext]

parent_var: ContextVar[Optional[Parent]]
"""The current parent (``tasker_core.tracing.parent``)."""
correlation_var: ContextVar[Optional[Correlation]]
"""The current correlation (``tasker_core.tracing.correlation``)."""

class SpanScope:
    """``tracing.Span``: the ``with`` protocol of a span in native code. ``__enter__`` starts the
    span under ``parent_var``/``correlation_var`` and makes it current, ``__exit__`` records an
    exception leaving the block, restores the variables and ends the span."""

    def __init__(
        self, name: Any, level: int, target: Any, fields: Optional[Dict[str, Any]] = None, handler: bool = False
    ) -> None: ...
    @property
    def name(self) -> Any:
        """The name the span starts with."""
    _native: Optional[Span]
    def _start(self) -> Tuple[Span, Optional[Correlation]]:
        """Starts the native span under the current parent (not made current)."""
    def __enter__(self: T) -> T: ...
    def __exit__(self, exc_type: Any = None, exc: Optional[BaseException] = None, tb: Any = None) -> None: ...
    @property
    def trace_id(self) -> Optional[str]:
        """The trace id (32 hex digits); ``None`` before the span starts or when not recorded."""
    @property
    def span_id(self) -> Optional[str]:
        """The span id (16 hex digits); ``None`` before the span starts or when not recorded."""
    @property
    def is_recording(self) -> bool:
        """Whether any output records this span (its level passes a filter)."""
    def set(self, key: Any, value: Any) -> None:
        """Sets attribute ``key`` (a dict value becomes dotted keys, as for fields)."""
    def __setitem__(self, key: Any, value: Any) -> None:
        """``span[key] = value``: same as :meth:`set`."""
    def add_event(self, name: Any, **fields: Any) -> None:
        """Adds a span event with fields (exported with the span)."""
    def record_exception(self, exc: BaseException) -> None:
        """Records ``exc`` (``exception.*`` attributes and event) and sets the error status."""
    def set_error(self, description: Any) -> None:
        """Sets the error status with a description."""
    def end(self) -> None:
        """Ends a span from ``start_span`` (idempotent; ``with`` blocks end theirs)."""

def span(name: Any, level: Union[str, int] = "info", **fields: Any) -> SpanScope:
    """``tracing.span``: a span whose target (used by filters) is the calling module; the level
    is a name (any case) or a ``logging`` number. Raises TracingError for an unknown level."""

def start_span(
    name: Any,
    level: int,
    target: Any,
    fields: Optional[Dict[str, Any]] = None,
    parent: Optional[Parent] = None,
    correlation: Optional[Correlation] = None,
    kind: int = 0,
) -> Span: ...
def start_handler_span(
    handler_name: Any,
    context: Optional[Dict[str, Any]] = None,
    parent: Optional[Parent] = None,
    correlation: Optional[Correlation] = None,
) -> Tuple[Span, Correlation]: ...
def event(
    level: int,
    target: Any,
    message: Any,
    fields: Optional[Dict[str, Any]] = None,
    parent: Optional[Parent] = None,
    correlation: Optional[Correlation] = None,
    exception: Optional[Tuple[str, str, str]] = None,
    console: bool = True,
) -> None: ...
def inject(parent: Optional[Parent] = None, correlation: Optional[Correlation] = None) -> Dict[str, str]: ...
def extract(headers: Dict[Any, Any]) -> RemoteContext: ...
def current(
    parent: Optional[Parent] = None, correlation: Optional[Correlation] = None
) -> Tuple[Optional[str], Optional[str], Optional[Correlation]]: ...
def startup() -> Tuple[bool, Optional[str]]: ...
def bridge_decision(request: str, api_loaded: bool, other_provider: Optional[str] = None) -> bool: ...
def bridge_mode() -> str: ...
def propagates_baggage() -> bool: ...
def shown_parent(parent: Optional[Parent] = None) -> Any: ...
def leave(value: Any, token: Any) -> None:
    """Takes a parent set with ``token`` out of this context (reset when still innermost, else
    left alone and a span detached)."""
def prometheus_text() -> str: ...
def set_health(component: Any, status: Any, reason: Optional[Any] = None) -> None: ...
def readiness() -> Tuple[bool, List[str]]: ...
def health_detailed() -> str: ...

PROMETHEUS_CONTENT_TYPE: str

def set_level(filter: Any) -> List[str]: ...
def set_export_level(filter: Any) -> List[str]: ...
def set_runtime(settings: Optional[Dict[str, Any]] = None) -> List[str]: ...
def reload_config() -> List[str]: ...
def runtime_generation() -> int: ...
def wait_for_runtime_change(seen: int, timeout: float) -> int: ...

class Monitor:
    """A monitored operation (duration, memory growth)."""

    def __init__(self, name: Any) -> None: ...
    def finish(self) -> Optional[Tuple[float, Optional[int], bool, bool]]:
        """``(duration_ms, memory_delta_bytes, slow, memory_spike)``, or ``None`` when ended already."""
def init(config_path: Optional[Union[str, PathLike[str]]] = None, overrides: Optional[Dict[str, Any]] = None) -> None: ...
def is_initialized() -> bool: ...
def is_exporting() -> bool: ...
def flush(timeout: Optional[float] = None) -> None: ...
def shutdown(timeout: Optional[float] = None) -> None: ...
def before_fork() -> None: ...
def after_fork_in_child() -> None: ...
def level_names() -> List[Tuple[str, int]]: ...
def max_level_index() -> int: ...
def record_metric(kind: Any, name: Any, value: float, labels: Optional[Dict[str, Any]] = None) -> None: ...
def lifecycle(
    name: Any,
    duration_ms: Optional[float] = None,
    labels: Optional[Dict[str, Any]] = None,
    fields: Optional[Dict[str, Any]] = None,
    parent: Optional[Parent] = None,
    correlation: Optional[Correlation] = None,
) -> None: ...
def run_step(message: Dict[str, Any], callback: Callable[[Span, Correlation], T], parent: Optional[Parent] = None) -> T: ...
def stats() -> Dict[str, int]: ...
