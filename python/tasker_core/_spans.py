"""Spans: ``with tracing.span(...)``, handler spans, spans started without a block, and the
``@instrument`` decorator (functions, coroutines, generators, async generators)."""

from __future__ import annotations

import contextvars
import functools
import inspect
import sys
from types import TracebackType
from typing import (
    Any,
    AsyncGenerator,
    Callable,
    Dict,
    Generator,
    Mapping,
    Optional,
    Tuple,
    Type,
    TypeVar,
    Union,
    overload,
)

from . import _native
from ._context import correlation_var, parent_var, reset
from ._events import INFO, LEVELS, Level, level_index
from ._native import Correlation, TracingError
from ._util import caller_module, exception_parts, mapping

F = TypeVar("F", bound=Callable[..., Any])

_Tokens = Tuple[contextvars.Token, Optional[contextvars.Token]]


class Span:
    """A span. ``with tracing.span(name, **fields) as span:`` starts it (under the current span,
    remote context or Rust span), makes it current, and ends it on exit. An exception raised in
    the block is recorded (``exception.type``, ``exception.message``, ``exception.stacktrace``),
    sets the error status, and propagates unchanged. A ``Span`` is entered once; one from
    :func:`start_span` is already started (end it with :meth:`end`)."""

    __slots__ = ("name", "_level", "_target", "_fields", "_native", "_tokens")

    def __init__(self, name: str, level: int, target: str, fields: Dict[str, Any]) -> None:
        self.name = name
        self._level = level
        self._target = target
        self._fields = fields
        self._native: Optional[_native.Span] = None
        self._tokens: Optional[_Tokens] = None

    def _start(self) -> Tuple[_native.Span, Optional[Correlation]]:
        """Starts the native span under the current parent; returns it and the correlation it
        brings (if any)."""
        native = _native.start_span(
            self.name, self._level, self._target, self._fields, parent_var.get(), correlation_var.get()
        )
        return native, None

    def __enter__(self) -> "Span":
        if self._native is not None:
            raise TracingError(f"span {self.name!r} was already entered; create a new span")
        if type(self) is Span:
            # The hot path, inlined (a plain span brings no correlation).
            native = self._native = _native.start_span(
                self.name, self._level, self._target, self._fields, parent_var.get(), correlation_var.get()
            )
            self._tokens = (parent_var.set(native), None)
            return self
        native, corr = self._start()
        self._native = native
        self._tokens = (parent_var.set(native), correlation_var.set(corr) if corr is not None else None)
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
                reset(correlation_var, tokens[1])
            # leave(native, tokens[0]), inlined: the hot path
            if parent_var.get() is native:
                try:
                    parent_var.reset(tokens[0])
                except ValueError:
                    native.detach()
            else:
                native.detach()
            native.end()

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
        self._running().record_exception(*exception_parts(exc))

    def set_error(self, description: str) -> None:
        """Sets the error status with a description."""
        self._running().set_error(description)

    def end(self) -> None:
        """Ends a span from :func:`start_span` (idempotent; ``with`` blocks end theirs)."""
        self._running().end()

    def __repr__(self) -> str:
        return f"<tracing.Span {self.name!r} span_id={self.span_id}>"


class _HandlerSpan(Span):
    """The ``handler_execution`` span of a step handler (see :func:`handler_span`)."""

    __slots__ = ()

    def _start(self) -> Tuple[_native.Span, Optional[Correlation]]:
        return _native.start_handler_span(self.name, self._fields, parent_var.get(), correlation_var.get())


def span(name: str, level: Level = "info", **fields: Any) -> Span:
    """A span named ``name`` with ``fields`` as attributes; use it as ``with tracing.span(...)
    as span:``. The target (used by filters) is the calling module. Raises TracingError for an
    unknown level."""
    index = LEVELS.get(level) if level.__class__ is str else None  # the usual spelling, inlined
    try:
        target = sys._getframe(1).f_globals.get("__name__", "") or ""  # caller_module(1), inlined
    except Exception:
        target = ""
    return Span(name, level_index(level) if index is None else index, target, fields)


def start_span(name: str, level: Level = "info", **fields: Any) -> Span:
    """Starts a span without a block (Ruby's ``start_span``): under the current span, not made
    current (use :func:`use_span` for that); end it with :meth:`Span.end`. A span never ended
    is ended when collected."""
    s = Span(name, level_index(level), caller_module(1), fields)
    s._native = s._start()[0]
    return s


class _UseSpan:
    """What :func:`use_span` returns."""

    def __init__(self, span: Span) -> None:
        self._span = span
        self._token: Optional[contextvars.Token] = None

    def __enter__(self) -> Span:
        self._token = parent_var.set(self._span._running())
        return self._span

    def __exit__(self, *exc: Any) -> None:
        token, self._token = self._token, None
        if token is not None:
            reset(parent_var, token)


def use_span(span: Span) -> _UseSpan:
    """Makes ``span`` (from :func:`start_span`) the parent of spans and events in the ``with``
    block, without ending it (Ruby's ``with_span``)."""
    if not isinstance(span, Span):
        raise TracingError(f"use_span expects a span from start_span, got {type(span).__qualname__}")
    return _UseSpan(span)


def handler_span(handler_name: str, context: Optional[Mapping[str, Any]] = None) -> Span:
    """The ``handler_execution`` span of a step handler: ``with tracing.handler_span("Charge",
    step_context):``. ``correlation_id``, ``parent_correlation_id``, ``task_uuid``,
    ``step_uuid`` and ``namespace`` from the (flattened) step context become the current
    correlation inside the block (a missing ``correlation_id`` is inherited or generated);
    ``task_name``, ``step_name``, ``attempt``, ``retry_limit`` and ``handler_class`` become
    attributes with ``handler.name``. An id that is not a UUID, or a context that is not a
    mapping, raises TracingError."""
    return _HandlerSpan(handler_name, INFO, "tasker.handler", mapping(context, "handler_span context"))


def _arguments(sig: inspect.Signature, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Dict[str, Any]:
    try:
        bound = sig.bind_partial(*args, **kwargs)
    except TypeError:
        return {}
    return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}


def _activate(native: _native.Span) -> contextvars.Token:
    return parent_var.set(native)


def _step_generator(gen: Generator[Any, Any, Any], span: Span) -> Generator[Any, Any, Any]:
    """Runs ``gen`` with ``span`` current only while ``gen`` itself runs (not while the consumer
    handles a yielded value); the span covers the whole iteration."""
    native = span._start()[0]
    span._native = native
    value: Any = None
    thrown: Optional[BaseException] = None
    try:
        while True:
            token = _activate(native)
            try:
                if thrown is not None:
                    exc, thrown = thrown, None
                    item = gen.throw(exc)
                else:
                    item = gen.send(value)
            finally:
                reset(parent_var, token)
            try:
                value = yield item
            except GeneratorExit:
                token = _activate(native)
                try:
                    gen.close()
                finally:
                    reset(parent_var, token)
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
    native = span._start()[0]
    span._native = native
    value: Any = None
    thrown: Optional[BaseException] = None
    try:
        while True:
            token = _activate(native)
            try:
                if thrown is not None:
                    exc, thrown = thrown, None
                    item = await agen.athrow(exc)
                else:
                    item = await agen.asend(value)
            finally:
                reset(parent_var, token)
            try:
                value = yield item
            except GeneratorExit:
                token = _activate(native)
                try:
                    await agen.aclose()
                finally:
                    reset(parent_var, token)
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
    ``@instrument(name=..., level=...)``. Ruby's equivalent is ``extend
    TaskerCore::Tracing::Instrument`` and ``instrument :method``."""
    index = level_index(level)

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


