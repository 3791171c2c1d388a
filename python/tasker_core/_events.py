"""Levels and log events. The level names are the core's one table; the most verbose level any
output records is cached here so that a disabled call returns without crossing into Rust."""

from __future__ import annotations

import logging
from typing import Any, Dict, Optional, Union

from . import _native
from ._context import context
from ._native import TracingError
from ._util import caller_module, exception_parts, report, safe_repr

Level = Union[str, int]
"""A level: a name (``"trace"``, ``"debug"``, ``"info"``, ``"warn"``/``"warning"``,
``"error"``, ``"critical"``/``"fatal"``, any case) or a stdlib :mod:`logging` number."""

TRACE, DEBUG, INFO, WARN, ERROR = 0, 1, 2, 3, 4
LEVELS: Dict[str, int] = dict(_native.level_names())

# The most verbose level any output records (0 = trace ... 5 = off). It changes only with the
# configuration (start-up, init).
max_level: int = 5


def refresh_max_level() -> None:
    global max_level
    max_level = _native.max_level_index()


def stdlib_level(levelno: int) -> int:
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


def level_index(level: Level) -> int:
    """The core level index (0 = trace ... 4 = error) of ``level``; TracingError if unknown."""
    if isinstance(level, str):
        index = LEVELS.get(level)  # the usual spelling, without lower-casing a copy
        if index is None:
            index = LEVELS.get(level.strip().lower())
        if index is None:
            raise TracingError(f"{level!r} is not a level; expected one of {', '.join(LEVELS)} (any case)")
        return index
    if isinstance(level, int) and not isinstance(level, bool):
        return stdlib_level(level)
    raise TracingError(f"{safe_repr(level)} is not a level: expected a level name or a logging level number")


def enabled(level: Level) -> bool:
    """Whether events at ``level`` can be recorded by any output (console or export). Cheap: no
    call into Rust."""
    return level_index(level) >= max_level


def emit(
    level: int,
    message: Any,
    fields: Dict[str, Any],
    target: Optional[str] = None,
    exc: Optional[BaseException] = None,
    console: bool = True,
) -> None:
    """Sends an event to the core (``console=False``: exported, not printed); never raises (a
    failure is reported once on stderr)."""
    try:
        parent, corr = context()
        # The native side takes str(message) (or "<unprintable TYPE>") itself.
        _native.event(
            level,
            target if target is not None else caller_module(2),
            message,
            fields,
            parent,
            corr,
            None if exc is None else exception_parts(exc),
            console,
        )
    except Exception as exc_:
        report("log call", exc_)


def event(level: Level, message: str, **fields: Any) -> None:
    """A log event at ``level`` with ``fields``: printed on the console, attached to the current
    span as a span event, exported as an OTLP log when enabled. Never raises."""
    try:
        index = level_index(level)
    except Exception as exc:
        report("log call", exc)
        return
    if index >= max_level:
        emit(index, message, fields)


def trace(message: str, **fields: Any) -> None:
    """A ``TRACE`` event (see :func:`event`)."""
    if max_level <= TRACE:
        emit(TRACE, message, fields)


def debug(message: str, **fields: Any) -> None:
    """A ``DEBUG`` event (see :func:`event`). Returns at once when debug is disabled."""
    if max_level <= DEBUG:
        emit(DEBUG, message, fields)


def info(message: str, **fields: Any) -> None:
    """An ``INFO`` event (see :func:`event`)."""
    if max_level <= INFO:
        emit(INFO, message, fields)


def warning(message: str, **fields: Any) -> None:
    """A ``WARN`` event (see :func:`event`)."""
    if max_level <= WARN:
        emit(WARN, message, fields)


def error(message: str, **fields: Any) -> None:
    """An ``ERROR`` event (see :func:`event`)."""
    if max_level <= ERROR:
        emit(ERROR, message, fields)


def critical(message: str, **fields: Any) -> None:
    """A critical event: ``ERROR``, the core's highest level (see :func:`event`)."""
    if max_level <= ERROR:
        emit(ERROR, message, fields)


warn = warning
fatal = critical
