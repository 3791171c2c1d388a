"""Spans, structured logs, correlation, W3C propagation and metrics for Tasker step handlers,
recorded by the ``tasker-telemetry`` Rust core (console/JSON lines, OTLP export, redaction).

The Python twin of the Ruby gem's ``TaskerCore::Tracing``::

    from tasker_core import tracing

    tracing.init()                      # export per OTEL_* / TASKER_* settings (optional)
    with tracing.correlation(namespace="payments"):
        with tracing.span("charge", order_id=42) as span:
            tracing.info("charged", amount=9.5)
            span.set("receipt", "r-1")

The current span and correlation live in :mod:`contextvars`: each ``asyncio`` task keeps its
own, and ``contextvars.copy_context().run`` carries them to a thread. Python code called while
a Rust span is current on the thread nests under it. Console logging is set up at import from
the environment (``TASKER_LOG_FORMAT``, ``TASKER_LOG_LEVEL``, ...); :func:`init` adds export.

Log calls (:func:`info` and friends, :class:`LoggingHandler`) never raise: a failure is
reported once on stderr. Everything else raises :class:`TracingError` on invalid input (a wrong
type included, never a bare ``TypeError``). Names, messages and keys of any type are taken as
``str(value)`` (``<unprintable TYPE>`` when that raises; lone surrogates replaced).
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import functools
import inspect
import logging
import os
import sys
import traceback
from types import TracebackType
from typing import (
    Any,
    AsyncGenerator,
    Callable,
    ContextManager,
    Dict,
    Generator,
    Iterator,
    Mapping,
    Optional,
    Tuple,
    Type,
    TypeVar,
    Union,
    overload,
)

from . import _native
from ._native import Correlation, RemoteContext, TracingError

__all__ = [
    "Correlation",
    "LoggingHandler",
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
    "flush",
    "gauge",
    "handler_span",
    "histogram",
    "info",
    "init",
    "inject",
    "install_logging",
    "instrument",
    "is_initialized",
    "lifecycle",
    "remote_context",
    "shutdown",
    "run_step",
    "span",
    "stats",
    "trace",
    "up_down_counter",
    "warn",
    "warning",
]

Level = Union[str, int]
"""A level: a name (``"trace"``, ``"debug"``, ``"info"``, ``"warn"``/``"warning"``,
``"error"``, ``"critical"``/``"fatal"``) or a stdlib :mod:`logging` number."""

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

TRACE, DEBUG, INFO, WARN, ERROR = 0, 1, 2, 3, 4
_LEVELS = {
    "trace": TRACE,
    "debug": DEBUG,
    "info": INFO,
    "warn": WARN,
    "warning": WARN,
    "error": ERROR,
    "critical": ERROR,
    "fatal": ERROR,
}

# ---------------------------------------------------------------------------------------------
# Levels


def _stdlib_level(levelno: int) -> int:
    """The core level index of a stdlib logging level number."""
    if levelno < logging.DEBUG:
        return TRACE
    if levelno < logging.INFO:
        return DEBUG
    if levelno < logging.WARNING:
        return INFO
    if levelno < logging.ERROR:
        return WARN
    return ERROR


def _level(level: Level) -> int:
    """The core level index (0 = trace ... 4 = error) of ``level``; TracingError if unknown."""
    if isinstance(level, str):
        index = _LEVELS.get(level)  # the usual spelling, without lower-casing a copy
        if index is not None:
            return index
        index = _LEVELS.get(level.lower())
        return _native.level_index(level) if index is None else index
    if isinstance(level, int) and not isinstance(level, bool):
        return _stdlib_level(level)
    raise TracingError(f"{_safe_repr(level)} is not a level: expected a level name or a logging level number")


# The most verbose level any output records (0 = trace ... 5 = off), cached so that a disabled
# call returns without crossing into Rust. It changes only with the configuration.
_max_level: int = 5


def _refresh_max_level() -> None:
    global _max_level
    _max_level = _native.max_level_index()


def enabled(level: Level) -> bool:
    """Whether events at ``level`` can be recorded by any output (console or export). Cheap: no
    call into Rust."""
    return _level(level) >= _max_level


# ---------------------------------------------------------------------------------------------
# Failures of log calls: reported once on stderr, never raised

_reported: set = set()


def _report(where: str, exc: BaseException) -> None:
    key = (where, type(exc).__name__)
    if key in _reported:
        return
    _reported.add(key)
    try:
        sys.stderr.write(
            f"tasker_core.tracing: {where} failed and was skipped "
            f"(further such failures are not reported): {type(exc).__name__}: {exc}\n"
        )
    except Exception:  # pragma: no cover - stderr itself is broken
        pass


# ---------------------------------------------------------------------------------------------
# Context: the current span (or remote context) and correlation, in contextvars

_Parent = Union[_native.Span, RemoteContext]
_parent_var: contextvars.ContextVar[Optional[_Parent]] = contextvars.ContextVar(
    "tasker_core.tracing.parent", default=None
)
_correlation_var: contextvars.ContextVar[Optional[Correlation]] = contextvars.ContextVar(
    "tasker_core.tracing.correlation", default=None
)


def _context() -> Tuple[Optional[_Parent], Optional[Correlation]]:
    """``(parent, correlation)`` for a new span or event, from this context. With no Python
    parent, the core uses the Rust span current on the thread (one that called into Python), or
    none (never another asyncio task's Python span entered on the thread)."""
    return _parent_var.get(), _correlation_var.get()


_Tokens = Tuple[contextvars.Token, Optional[contextvars.Token]]


def _reset(var: contextvars.ContextVar[Any], token: contextvars.Token) -> None:
    try:
        var.reset(token)
    except ValueError:  # set in another context (a generator resumed elsewhere)
        old = token.old_value
        var.set(None if old is contextvars.Token.MISSING else old)


def _activate(native: _native.Span, correlation: Optional[Correlation] = None) -> _Tokens:
    """Makes ``native`` the current span in this context and on this thread."""
    token = _parent_var.set(native)
    ctoken = _correlation_var.set(correlation) if correlation is not None else None
    native.enter()
    return token, ctoken


def _deactivate(native: _native.Span, tokens: _Tokens) -> None:
    native.exit()
    if tokens[1] is not None:
        _reset(_correlation_var, tokens[1])
    _reset(_parent_var, tokens[0])


def _caller_module(depth: int) -> str:
    """``__name__`` of the module ``depth`` frames up (the target of spans and events)."""
    try:
        return sys._getframe(depth + 1).f_globals.get("__name__", "") or ""
    except Exception:
        return ""


def _qualified_type(exc: BaseException) -> str:
    kind = type(exc)
    module = getattr(kind, "__module__", "builtins")
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__qualname__}>"


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<unprintable {type(value).__qualname__}>"


def _mapping(value: Any, what: str) -> Dict[Any, Any]:
    """``value`` (a mapping, or ``None`` for empty) as a dict; TracingError otherwise."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TracingError(f"{what} must be a mapping such as a dict, got {type(value).__qualname__}")
    try:
        return dict(value)
    except Exception as exc:
        raise TracingError(f"{what}: the mapping could not be read ({type(exc).__name__}: {exc})") from None


def _seconds(value: Any, what: str) -> float:
    """A timeout in seconds; TracingError for anything that is not a number (the core rejects
    negative, infinite and NaN ones)."""
    try:
        return float(value)
    except Exception:
        raise TracingError(f"{what} must be a number of seconds, got {_safe_repr(value)}") from None


def _exception_parts(exc: BaseException) -> Tuple[str, str, str]:
    """``(exception.type, exception.message, exception.stacktrace)`` of ``exc``."""
    try:
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:
        stack = ""
    return _qualified_type(exc), _safe_str(exc), stack


# ---------------------------------------------------------------------------------------------
# Spans


class Span:
    """A span. ``with tracing.span(name, **fields) as span:`` starts it (under the current span,
    remote context or Rust span), makes it current, and ends it on exit. An exception raised in
    the block is recorded (``exception.type``, ``exception.message``, ``exception.stacktrace``),
    sets the error status, and propagates unchanged.

    A ``Span`` is entered once."""

    __slots__ = ("name", "_level", "_target", "_fields", "_native", "_tokens")

    def __init__(self, name: str, level: int, target: str, fields: Dict[str, Any]) -> None:
        self.name = name
        self._level = level
        self._target = target
        self._fields = fields
        self._native: Optional[_native.Span] = None
        self._tokens: Optional[_Tokens] = None

    def _start(self, enter: bool = False) -> Tuple[_native.Span, Optional[Correlation]]:
        """Starts the native span (made current on this thread too with ``enter``); returns it
        and the correlation it brings (if any)."""
        native = _native.start_span(
            self.name,
            self._level,
            self._target,
            self._fields,
            _parent_var.get(),
            _correlation_var.get(),
            enter,
        )
        return native, None

    def __enter__(self) -> "Span":
        if self._native is not None:
            raise TracingError(f"span {self.name!r} was already entered; create a new span")
        # One crossing starts and enters the span; contextvars make it the parent in Python.
        native, corr = self._start(True)
        self._native = native
        self._tokens = (
            _parent_var.set(native),
            _correlation_var.set(corr) if corr is not None else None,
        )
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        native = self._native
        tokens = self._tokens
        if native is None or tokens is None:
            return
        try:
            if exc is not None and not isinstance(exc, GeneratorExit):
                self.record_exception(exc)
        finally:
            self._tokens = None
            if tokens[1] is not None:
                _reset(_correlation_var, tokens[1])
            _reset(_parent_var, tokens[0])
            native.end(True)  # exits (undoes the enter) and ends, in one crossing

    def _running(self) -> _native.Span:
        if self._native is None:
            raise TracingError(f"span {self.name!r} has not started: use it in a `with` block")
        return self._native

    @property
    def trace_id(self) -> Optional[str]:
        """The trace id (32 hex digits); ``None`` before the span starts or when not recorded."""
        return None if self._native is None else self._native.trace_id

    @property
    def span_id(self) -> Optional[str]:
        """The span id (16 hex digits); ``None`` before the span starts or when not recorded."""
        return None if self._native is None else self._native.span_id

    @property
    def is_recording(self) -> bool:
        """Whether any output records this span (its level passes a filter)."""
        return self._native is not None and self._native.is_recording

    def set(self, key: str, value: Any) -> None:
        """Sets attribute ``key`` (a dict value becomes dotted keys, as for fields)."""
        self._running().set(key, value)

    def __setitem__(self, key: str, value: Any) -> None:
        """``span[key] = value``: same as :meth:`set`."""
        self.set(key, value)

    def add_event(self, name: str, **fields: Any) -> None:
        """Adds a span event with fields (exported with the span)."""
        self._running().add_event(name, fields)

    def record_exception(self, exc: BaseException) -> None:
        """Records ``exc`` on the span (``exception.*`` attributes and event) and sets the error
        status. Done automatically for an exception leaving the ``with`` block. TracingError when
        ``exc`` is not an exception."""
        if not isinstance(exc, BaseException):
            raise TracingError(f"record_exception expects an exception, got {type(exc).__qualname__}")
        self._running().record_exception(*_exception_parts(exc))

    def set_error(self, description: str) -> None:
        """Sets the error status with a description."""
        self._running().set_error(description)

    def __repr__(self) -> str:
        return f"<tracing.Span {self.name!r} span_id={self.span_id}>"


class _HandlerSpan(Span):
    """The ``handler_execution`` span of a step handler (see :func:`handler_span`)."""

    __slots__ = ()

    def _start(self, enter: bool = False) -> Tuple[_native.Span, Optional[Correlation]]:
        return _native.start_handler_span(
            self.name, self._fields, _parent_var.get(), _correlation_var.get(), enter
        )


def span(name: str, level: Level = "info", **fields: Any) -> Span:
    """A span named ``name`` with ``fields`` as attributes; use it as ``with tracing.span(...)
    as span:``. The target (used by filters) is the calling module. Raises TracingError for an
    unknown level."""
    return Span(name, _level(level), _caller_module(1), fields)


def handler_span(handler_name: str, context: Optional[Mapping[str, Any]] = None) -> Span:
    """The ``handler_execution`` span of a step handler: ``with tracing.handler_span("Charge",
    step_context):``. ``correlation_id``, ``parent_correlation_id``, ``task_uuid``,
    ``step_uuid`` and ``namespace`` from the (flattened) step context become the current
    correlation inside the block (a missing ``correlation_id`` is inherited or generated);
    ``task_name``, ``step_name``, ``attempt``, ``retry_limit`` and ``handler_class`` become
    attributes with ``handler.name``. An id that is not a UUID, or a context that is not a
    mapping, raises TracingError."""
    return _HandlerSpan(handler_name, INFO, "tasker.handler", _mapping(context, "handler_span context"))


def _arguments(sig: inspect.Signature, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Dict[str, Any]:
    try:
        bound = sig.bind_partial(*args, **kwargs)
    except TypeError:
        return {}
    return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}


def _step_generator(gen: Generator[Any, Any, Any], span: Span) -> Generator[Any, Any, Any]:
    """Runs ``gen`` with ``span`` current only while ``gen`` itself runs (not while the consumer
    handles a yielded value); the span covers the whole iteration."""
    native, corr = span._start()
    span._native = native
    value: Any = None
    thrown: Optional[BaseException] = None
    try:
        while True:
            tokens = _activate(native, corr)
            try:
                if thrown is not None:
                    exc, thrown = thrown, None
                    item = gen.throw(exc)
                else:
                    item = gen.send(value)
            finally:
                _deactivate(native, tokens)
            try:
                value = yield item
            except GeneratorExit:
                tokens = _activate(native, corr)
                try:
                    gen.close()
                finally:
                    _deactivate(native, tokens)
                raise
            except BaseException as exc:  # thrown in by the consumer: pass it on
                thrown = exc
    except StopIteration as stop:
        return stop.value
    except GeneratorExit:
        raise
    except BaseException as exc:
        span.record_exception(exc)
        raise
    finally:
        native.end()


async def _step_async_generator(agen: AsyncGenerator[Any, Any], span: Span) -> AsyncGenerator[Any, Any]:
    """The async-generator version of :func:`_step_generator`."""
    native, corr = span._start()
    span._native = native
    value: Any = None
    thrown: Optional[BaseException] = None
    try:
        while True:
            tokens = _activate(native, corr)
            try:
                if thrown is not None:
                    exc, thrown = thrown, None
                    item = await agen.athrow(exc)
                else:
                    item = await agen.asend(value)
            finally:
                _deactivate(native, tokens)
            try:
                value = yield item
            except GeneratorExit:
                tokens = _activate(native, corr)
                try:
                    await agen.aclose()
                finally:
                    _deactivate(native, tokens)
                raise
            except BaseException as exc:
                thrown = exc
    except StopAsyncIteration:
        return
    except GeneratorExit:
        raise
    except BaseException as exc:
        span.record_exception(exc)
        raise
    finally:
        native.end()


@overload
def instrument(func: F) -> F: ...
@overload
def instrument(
    func: None = None, *, name: Optional[str] = None, level: Level = "info", record_args: bool = False
) -> Callable[[F], F]: ...
def instrument(
    func: Optional[F] = None,
    *,
    name: Optional[str] = None,
    level: Level = "info",
    record_args: bool = False,
) -> Union[F, Callable[[F], F]]:
    """Decorator: runs each call of a function in a span (named ``name``, default the function's
    qualified name; target its module). Works on plain functions, ``async def`` coroutines (the
    span covers the whole await), generators and async generators (the span covers the whole
    iteration, and is current only while the generator runs). With ``record_args=True`` the
    arguments (but ``self``/``cls``) become attributes. Use as ``@instrument`` or
    ``@instrument(name=..., level=...)``."""
    index = _level(level)

    def decorate(fn: F) -> F:
        if not callable(fn):
            raise TracingError(f"instrument decorates functions, got {type(fn).__qualname__}")
        span_name = name or getattr(fn, "__qualname__", None) or repr(fn)
        target = getattr(fn, "__module__", None) or ""
        sig = inspect.signature(fn) if record_args else None

        def make(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Span:
            fields = _arguments(sig, args, kwargs) if sig is not None else {}
            return Span(span_name, index, target, fields)

        wrapper: Callable[..., Any]
        if inspect.isasyncgenfunction(fn):

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                return _step_async_generator(fn(*args, **kwargs), make(args, kwargs))

        elif inspect.iscoroutinefunction(fn):

            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                with make(args, kwargs):
                    return await fn(*args, **kwargs)

        elif inspect.isgeneratorfunction(fn):

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                return _step_generator(fn(*args, **kwargs), make(args, kwargs))

        else:

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                with make(args, kwargs):
                    return fn(*args, **kwargs)

        return functools.wraps(fn)(wrapper)  # type: ignore[return-value]

    return decorate if func is None else decorate(func)


# ---------------------------------------------------------------------------------------------
# Log events


def _emit(level: int, message: Any, fields: Dict[str, Any], target: Optional[str] = None) -> None:
    """Sends an event to the core; never raises (a failure is reported once on stderr)."""
    try:
        parent, corr = _context()
        # The native side takes str(message) (or "<unprintable TYPE>") itself.
        _native.event(level, target if target is not None else _caller_module(2), message, fields, parent, corr)
    except Exception as exc:
        _report("log call", exc)


def event(level: Level, message: str, **fields: Any) -> None:
    """A log event at ``level`` with ``fields``: printed on the console, attached to the current
    span as a span event, exported as an OTLP log when enabled. Never raises."""
    try:
        index = _level(level)
    except Exception as exc:
        _report("log call", exc)
        return
    if index >= _max_level:
        _emit(index, message, fields)


def trace(message: str, **fields: Any) -> None:
    """A ``TRACE`` event (see :func:`event`)."""
    if _max_level <= TRACE:
        _emit(TRACE, message, fields)


def debug(message: str, **fields: Any) -> None:
    """A ``DEBUG`` event (see :func:`event`). Returns at once when debug is disabled."""
    if _max_level <= DEBUG:
        _emit(DEBUG, message, fields)


def info(message: str, **fields: Any) -> None:
    """An ``INFO`` event (see :func:`event`)."""
    if _max_level <= INFO:
        _emit(INFO, message, fields)


def warning(message: str, **fields: Any) -> None:
    """A ``WARN`` event (see :func:`event`)."""
    if _max_level <= WARN:
        _emit(WARN, message, fields)


warn = warning


def error(message: str, **fields: Any) -> None:
    """An ``ERROR`` event (see :func:`event`)."""
    if _max_level <= ERROR:
        _emit(ERROR, message, fields)


def critical(message: str, **fields: Any) -> None:
    """A critical event: ``ERROR``, the core's highest level (see :func:`event`)."""
    if _max_level <= ERROR:
        _emit(ERROR, message, fields)


# ---------------------------------------------------------------------------------------------
# stdlib logging bridge

_RECORD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class LoggingHandler(logging.Handler):
    """A :class:`logging.Handler` that sends records to the core: the logger name is the target,
    ``extra=`` entries are fields, ``exc_info`` becomes ``exception.type``,
    ``exception.message`` and ``exception.stacktrace`` (formatted traceback). The record joins
    the current span and correlation. Never raises: a message whose ``%``-arguments do not
    format is kept as the unformatted message with a ``logging.format_error`` field."""

    def emit(self, record: logging.LogRecord) -> None:
        """Sends one record (called by :mod:`logging`)."""
        try:
            level = _stdlib_level(record.levelno)
            if level < _max_level:
                return
            fields = {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRS}
            if record.exc_info and record.exc_info[1] is not None:
                kind, message, stack = _exception_parts(record.exc_info[1])
                fields["exception.type"] = kind
                fields["exception.message"] = message
                fields["exception.stacktrace"] = stack
            try:
                text = record.getMessage()
            except Exception as exc:  # a message or %-arguments that do not format: keep the record
                text = _safe_str(record.msg)
                fields["logging.format_error"] = f"{type(exc).__name__}: {_safe_str(exc)}"
            _emit(level, text, fields, record.name)
        except Exception as exc:
            _report("logging handler", exc)


def install_logging(level: Union[int, str] = logging.INFO, logger: Optional[str] = None) -> LoggingHandler:
    """Routes stdlib logging into the core: adds a :class:`LoggingHandler` to the root logger
    (or ``logger``), replacing one added before, and sets its level. Existing code calling
    ``logging.getLogger(__name__).info(...)`` then joins the trace unchanged. Returns the
    handler. TracingError for a level :mod:`logging` does not know or a logger name that is
    not a string (nothing is changed then)."""
    if logger is not None and not isinstance(logger, str):
        raise TracingError(f"install_logging logger must be a logger name (str), got {type(logger).__qualname__}")
    try:
        logging.Logger("tasker_core.tracing.level-check").setLevel(level)
    except Exception:
        raise TracingError(
            f"install_logging level must be a logging level number or name such as 'INFO', got {_safe_repr(level)}"
        ) from None
    target = logging.getLogger(logger)
    for h in list(target.handlers):
        if isinstance(h, LoggingHandler):
            target.removeHandler(h)
    handler = LoggingHandler()
    target.addHandler(handler)
    target.setLevel(level)
    return handler


# ---------------------------------------------------------------------------------------------
# Correlation and propagation


class _CorrelationScope(contextlib.ContextDecorator):
    """What :func:`correlation` returns: a context manager (and decorator) that makes a new
    correlation current. A plain class, not a generator: entering and leaving cost a few
    attribute accesses instead of a generator's frames."""

    def __init__(self, parts: Tuple[Any, Any, Any, Any, Optional[str]]) -> None:
        self._parts = parts
        self._token: Optional[contextvars.Token] = None

    def _recreate_cm(self) -> "_CorrelationScope":
        return _CorrelationScope(self._parts)

    def __enter__(self) -> Correlation:
        corr = Correlation.from_parts(*self._parts)
        self._token = _correlation_var.set(corr)
        return corr

    def __exit__(self, *exc: Any) -> None:
        token, self._token = self._token, None
        if token is not None:
            _reset(_correlation_var, token)


def correlation(
    correlation_id: Any = None,
    parent_correlation_id: Any = None,
    task_uuid: Any = None,
    step_uuid: Any = None,
    namespace: Optional[str] = None,
) -> ContextManager[Correlation]:
    """Makes a correlation current in the ``with`` block: every span and event inside carries
    ``correlation_id`` (a new UUIDv7 when not given) and the other ids that are set. Ids are
    UUIDs (``str`` or :class:`uuid.UUID`); an invalid one raises TracingError naming it."""
    return _CorrelationScope((correlation_id, parent_correlation_id, task_uuid, step_uuid, namespace))


class _RemoteScope(contextlib.ContextDecorator):
    """What :func:`remote_context` returns (a plain class, as :class:`_CorrelationScope`)."""

    def __init__(self, headers: Mapping[str, Any]) -> None:
        self._headers = headers
        self._tokens: Optional[_Tokens] = None

    def _recreate_cm(self) -> "_RemoteScope":
        return _RemoteScope(self._headers)

    def __enter__(self) -> RemoteContext:
        remote = _native.extract(_mapping(self._headers, "remote_context headers"))
        token = _parent_var.set(remote)
        corr = remote.correlation()
        self._tokens = (token, _correlation_var.set(corr) if corr is not None else None)
        return remote

    def __exit__(self, *exc: Any) -> None:
        tokens, self._tokens = self._tokens, None
        if tokens is not None:
            if tokens[1] is not None:
                _reset(_correlation_var, tokens[1])
            _reset(_parent_var, tokens[0])


def remote_context(headers: Mapping[str, Any]) -> ContextManager[RemoteContext]:
    """Continues a trace from another process: spans started in the block are children of the
    remote span in ``headers`` (W3C ``traceparent``/``tracestate``; names case-insensitive) and
    carry the correlation from its ``baggage``. Invalid headers are ignored (a new trace);
    ``headers`` that is not a mapping raises TracingError."""
    return _RemoteScope(headers)


def run_step(message: Mapping[str, Any], handler: Callable[[], T]) -> T:
    """Calls ``handler()`` as a step through the core's per-step path, the same in every
    language: the Rust ``execute_step`` span continuing the orchestrator's trace from
    ``message["headers"]`` (else under the current Rust span), the step's correlation
    (``correlation_id``, ``task_uuid``, ``step_uuid``, ``namespace``) and the ``step.claimed``,
    ``step.executing`` and ``step.completed``/``step.failed`` lifecycle events. Python spans
    opened by the handler (e.g. ``handler_span``) nest under that Rust span with no headers.
    Returns the handler's value; an exception marks the step failed and propagates::

        tracing.run_step({"step_name": "reserve_inventory", "attempt": 1,
                          "correlation_id": cid, "headers": headers}, lambda: handler(payload))
    """
    message = _mapping(message, "run_step message")
    if not callable(handler):
        raise TracingError(f"run_step calls a handler, got {type(handler).__qualname__}")
    tokens = (_parent_var.set(None), _correlation_var.set(None))
    try:
        return _native.run_step(message, handler)
    finally:
        _reset(_correlation_var, tokens[1])
        _reset(_parent_var, tokens[0])


def stats() -> Dict[str, int]:
    """The process's export counters (a forked child starts at zero): ``spans_started``,
    ``spans_ended`` (handed to the export queue), ``spans_exported`` (accepted by the
    collector), ``spans_dropped`` (queue full, failed export, or after shutdown),
    ``spans_pending`` (queued or in an export request), ``logs_dropped`` and
    ``metrics_dropped``."""
    return _native.stats()


def inject() -> Dict[str, str]:
    """W3C headers (``traceparent``, ``tracestate``, ``baggage`` with the correlation) for the
    current span and correlation, to send to another process."""
    parent, corr = _context()
    return _native.inject(parent, corr)


def _current() -> Tuple[Optional[str], Optional[str], Optional[Correlation]]:
    """``(trace_id, span_id, correlation)`` of the span a new span would be a child of."""
    return _native.current(*_context())


def current_correlation_id() -> Optional[str]:
    """The current correlation id (from :func:`correlation`, the current span, a remote
    context, or a Rust correlation scope), or ``None``."""
    corr = _current()[2]
    return None if corr is None else corr.correlation_id


def current_trace_id() -> Optional[str]:
    """The trace id of the current span (Python or Rust), or ``None``."""
    return _current()[0]


def current_span_id() -> Optional[str]:
    """The id of the current span (Python or Rust, or the remote parent), or ``None``."""
    return _current()[1]


# ---------------------------------------------------------------------------------------------
# Metrics


def _number(name: Any, value: Any) -> float:
    try:
        return float(value)
    except Exception:
        raise TracingError(f"metric {_safe_str(name)!r}: value {_safe_repr(value)} is not a number") from None


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
    parent, corr = _context()
    _native.lifecycle(name, duration, _mapping(labels, "lifecycle labels"), fields, parent, corr)


# ---------------------------------------------------------------------------------------------
# Life cycle

def _config_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(v) for v in value)
    return str(value)


def init(config_path: Optional[Union[str, "os.PathLike[str]"]] = None, **overrides: Any) -> None:
    """Starts telemetry with export, once per process. The configuration is read from
    ``config_path`` (or ``TASKER_CONFIG``), the ``TASKER_ENV`` overlay and the ``OTEL_*`` /
    ``TASKER_*`` environment variables, then ``overrides``: configuration keys without the
    ``telemetry.`` prefix, with ``_`` after the section (``service_name="worker"``,
    ``otlp_endpoint=url``, ``logging_format="json"``; dotted keys work too). Booleans, lists
    (``logging_redact_keys``) and dicts (``otlp_headers``) are accepted. Raises TracingError
    for an invalid configuration or a second call."""
    try:
        path = None if config_path is None else os.fsdecode(config_path)
    except TypeError:
        raise TracingError(f"init config_path must be a path (str or os.PathLike), got {type(config_path).__qualname__}") from None
    values = []
    for key, value in overrides.items():
        try:
            values.append((key, _config_value(value)))
        except Exception as exc:
            raise TracingError(f"init {key}: the value could not be turned into text ({type(exc).__name__}: {exc})") from None
    _native.init(path, values)
    _refresh_max_level()


def is_initialized() -> bool:
    """Whether :func:`init` has run (and :func:`shutdown` has not)."""
    return _native.is_initialized()


def flush(timeout: float = 5.0) -> None:
    """Exports everything buffered, waiting at most ``timeout`` seconds (the GIL is released
    meanwhile). Raises TracingError when something could not be delivered, naming what: spans
    still queued or in an export request when the time ran out, or lost in failed requests."""
    _native.flush(_seconds(timeout, "flush timeout"))


def shutdown(timeout: float = 5.0) -> None:
    """Flushes and stops export (idempotent; the GIL is released meanwhile). Console logging
    goes on; telemetry cannot be initialised again. Raises TracingError on a delivery failure."""
    _native.shutdown(_seconds(timeout, "shutdown timeout"))


def _flush_at_exit() -> None:
    """Delivers what is buffered when the interpreter exits (normally, ``sys.exit``, an
    uncaught exception), waiting at most ``telemetry.otlp.shutdown_timeout_ms``. Not run on
    ``os._exit`` or a signal's default action (see the README on SIGTERM)."""
    if _native.is_initialized():
        try:
            _native.flush(_native.shutdown_timeout())
        except Exception as exc:
            _report("flush at exit", exc)


def _after_fork_in_child() -> None:
    try:
        _native.after_fork_in_child()
    except Exception as exc:
        _report("re-creating exporters after fork", exc)


def _setup() -> None:
    warning_text = _native.init_logging()
    if warning_text:
        sys.stderr.write(
            f"tasker_core.tracing: invalid telemetry configuration, console logging uses the defaults: {warning_text}\n"
        )
    _refresh_max_level()
    atexit.register(_flush_at_exit)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_native.before_fork, after_in_child=_after_fork_in_child)


_setup()
