"""Spans: ``with tracing.span(...)``, handler spans, spans started without a block, and the
``@instrument`` decorator (functions, coroutines, generators, async generators)."""

from __future__ import annotations

import contextvars
import functools
import inspect
from typing import (
    Any,
    AsyncGenerator,
    Callable,
    Dict,
    Generator,
    Mapping,
    Optional,
    Tuple,
    TypeVar,
    Union,
    overload,
)

from . import _native
from ._context import parent_var, reset
from ._events import INFO, Level, level_index
from ._native import TracingError
from ._util import caller_module, mapping

F = TypeVar("F", bound=Callable[..., Any])


# ``tracing.Span`` and ``tracing.span`` are native (their documentation is the extension's) so
# that no Python frame runs per span: ``with tracing.span(name, **fields) as span:`` starts the
# span under the current parent in the contextvars of ``_context``, makes it current, records an
# exception leaving the block, restores the contextvars and ends the span.
Span = _native.SpanScope
span = _native.span


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
        native = self._span._native
        if native is None:
            raise TracingError(f"span {self._span.name!r} has not started: use start_span, or a `with` block")
        self._token = parent_var.set(native)
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
    return Span(handler_name, INFO, "tasker.handler", mapping(context, "handler_span context"), True)


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


