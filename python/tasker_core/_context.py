"""The current span (or remote context) and correlation, in :mod:`contextvars`: each asyncio
task keeps its own, ``contextvars.copy_context().run`` carries them to a thread. Nothing is made
current on the thread in Rust; the core borrows a Rust span only when one called into Python
(the parent rule is the core's, ``tasker_telemetry::foreign::resolve``)."""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Callable, ContextManager, Dict, Mapping, Optional, Tuple, TypeVar, Union

from . import _native
from ._native import Correlation, RemoteContext, TracingError
from ._util import mapping

T = TypeVar("T")

Parent = Union[_native.Span, RemoteContext]
# Created by the native module, whose ``SpanScope`` (the ``with`` protocol of ``tracing.span``)
# reads and sets them too.
parent_var: contextvars.ContextVar[Optional[Parent]] = _native.parent_var
correlation_var: contextvars.ContextVar[Optional[Correlation]] = _native.correlation_var


def context() -> Tuple[Optional[Parent], Optional[Correlation]]:
    """``(parent, correlation)`` for a new span or event, from this context."""
    return parent_var.get(), correlation_var.get()


def reset(var: contextvars.ContextVar[Any], token: contextvars.Token) -> bool:
    """Resets ``var`` to what it was before ``token``'s ``set``; False (and nothing written)
    when the token belongs to another context (a generator finished on another thread)."""
    try:
        var.reset(token)
        return True
    except ValueError:
        return False


# ``leave(value, token)``: takes a parent ``set`` with ``token`` out of this context. When it is
# not the innermost parent here (an out-of-order exit, say a generator closed inside another
# span) or was set in another context, the variable is left alone and a span is detached:
# wherever a context still holds it, new spans attach to its parent instead. Native: the exit
# of ``tracing.span`` leaves the same way.
leave = _native.leave


class _CorrelationScope(contextlib.ContextDecorator):
    """What :func:`correlation` returns: a context manager (and decorator) that makes a new
    correlation current (a plain class: cheaper than a generator's frames)."""

    def __init__(self, parts: Tuple[Any, Any, Any, Any, Optional[str]]) -> None:
        self._parts = parts
        self._token: Optional[contextvars.Token] = None

    def _recreate_cm(self) -> "_CorrelationScope":
        return _CorrelationScope(self._parts)

    def __enter__(self) -> Correlation:
        corr = Correlation.from_parts(*self._parts)
        self._token = correlation_var.set(corr)
        return corr

    def __exit__(self, *exc: Any) -> None:
        token, self._token = self._token, None
        if token is not None:
            reset(correlation_var, token)


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
        self._tokens: Optional[Tuple[contextvars.Token, Optional[contextvars.Token]]] = None

    def _recreate_cm(self) -> "_RemoteScope":
        return _RemoteScope(self._headers)

    def __enter__(self) -> RemoteContext:
        remote = _native.extract(mapping(self._headers, "remote_context headers"))
        token = parent_var.set(remote)
        corr = remote.correlation()
        self._tokens = (token, correlation_var.set(corr) if corr is not None else None)
        return remote

    def __exit__(self, *exc: Any) -> None:
        tokens, self._tokens = self._tokens, None
        if tokens is not None:
            if tokens[1] is not None:
                reset(correlation_var, tokens[1])
            reset(parent_var, tokens[0])


def remote_context(headers: Mapping[str, Any]) -> ContextManager[RemoteContext]:
    """Continues a trace from another process: spans started in the block are children of the
    remote span in ``headers`` (W3C ``traceparent``/``tracestate``; names case-insensitive) and
    carry the correlation from its ``baggage``. Invalid headers are ignored (a new trace);
    ``headers`` that is not a mapping raises TracingError."""
    return _RemoteScope(headers)


def run_step(message: Mapping[str, Any], handler: Callable[[], T]) -> T:
    """Calls ``handler()`` as a step through the core's per-step path, the same in every
    language: the ``execute_step`` span continuing the orchestrator's trace from
    ``message["headers"]`` (else under the current span, or the Rust span that called into
    Python), the step's correlation (``correlation_id``, else the one in the headers' baggage;
    ``task_uuid``, ``step_uuid``, ``namespace``) and the ``step.claimed``, ``step.executing``
    and ``step.completed``/``step.failed`` lifecycle events. Inside the handler the ``execute_step``
    span and the step's correlation are current. Returns the handler's value; an exception marks
    the step failed and propagates::

        tracing.run_step({"step_name": "reserve_inventory", "attempt": 1,
                          "correlation_id": cid, "headers": headers}, lambda: handler(payload))
    """
    message = mapping(message, "run_step message")
    if not callable(handler):
        raise TracingError(f"run_step calls a handler, got {type(handler).__qualname__}")

    def inside(span: _native.Span, corr: Correlation) -> T:
        ptoken, ctoken = parent_var.set(span), correlation_var.set(corr)
        try:
            return handler()
        finally:
            reset(correlation_var, ctoken)
            leave(span, ptoken)

    return _native.run_step(message, inside, parent_var.get())


def inject() -> Dict[str, str]:
    """W3C headers (``traceparent``, ``tracestate``, ``baggage`` with the correlation) for the
    current span and correlation, to send to another process."""
    return _native.inject(*context())


def current_correlation_id() -> Optional[str]:
    """The current correlation id (from :func:`correlation`, the current span, a remote
    context, or a Rust correlation scope), or ``None``."""
    corr = _native.current(*context())[2]
    return None if corr is None else corr.correlation_id


def current_trace_id() -> Optional[str]:
    """The trace id of the current span (Python or Rust), or ``None``."""
    return _native.current(*context())[0]


def current_span_id() -> Optional[str]:
    """The id of the current span (Python or Rust, or the remote parent), or ``None``."""
    return _native.current(*context())[1]
