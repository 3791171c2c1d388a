"""The stdlib :mod:`logging` bridge: :class:`LoggingHandler` and :func:`install_logging`."""

from __future__ import annotations

import logging
import sys
from typing import Optional, Union

from . import _events
from ._native import TracingError
from ._util import report, safe_repr, safe_str

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
    format is kept as the unformatted message with a ``logging.format_error`` field. With
    ``console=False`` records are exported but not printed by the core (another handler prints
    them)."""

    def __init__(self, level: int = logging.NOTSET, console: bool = True) -> None:
        super().__init__(level)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        """Sends one record (called by :mod:`logging`)."""
        try:
            level = _events.stdlib_level(record.levelno)
            if level < _events.max_level:
                return
            fields = {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRS}
            exc = record.exc_info[1] if record.exc_info else None
            try:
                text = record.getMessage()
            except Exception as err:  # a message or %-arguments that do not format: keep the record
                text = safe_str(record.msg)
                fields["logging.format_error"] = f"{type(err).__name__}: {safe_str(err)}"
            _events.emit(level, text, fields, record.name, exc, self.console)
        except Exception as err:
            report("logging handler", err)


_CORE_TO_STDLIB = {0: 5, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}


def _prints_to_terminal(logger: logging.Logger) -> bool:
    """Whether ``logger`` (or an ancestor it propagates to) already has a handler writing to
    stderr or stdout."""
    current: Optional[logging.Logger] = logger
    while current is not None:
        for h in current.handlers:
            if isinstance(h, logging.StreamHandler) and not isinstance(h, LoggingHandler):
                if getattr(h, "stream", None) in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__):
                    return True
        current = current.parent if current.propagate else None  # type: ignore[assignment]
    return False


def install_logging(level: Union[int, str, None] = None, logger: Optional[str] = None) -> LoggingHandler:
    """Routes stdlib logging into the core, so ``logging.getLogger(__name__).info(...)`` joins
    the trace unchanged. Returns the handler. Exactly what it changes:

    - adds one :class:`LoggingHandler` to the root logger (or the logger named ``logger``),
      replacing one that an earlier call added; other handlers are left as they are;
    - the logger's level only when ``level`` is given (then it is set to it), or when the
      logger was never configured (the root logger at logging's default ``WARNING`` with no
      handlers, a named logger at ``NOTSET``): then it is set to the core's level from
      ``TASKER_LOG_LEVEL`` / ``TASKER_EXPORT_LEVEL``, so that records the core would record are
      not dropped by :mod:`logging` first;
    - when the logger (or an ancestor) already has a handler printing to stderr/stdout (e.g.
      from :func:`logging.basicConfig`), the core exports the records but does not print them
      a second time.

    TracingError for a level :mod:`logging` does not know or a logger name that is not a
    string (nothing is changed then)."""
    if logger is not None and not isinstance(logger, str):
        raise TracingError(f"install_logging logger must be a logger name (str), got {type(logger).__qualname__}")
    if level is not None:
        try:
            logging.Logger("tasker_core.tracing.level-check").setLevel(level)
        except Exception:
            raise TracingError(
                f"install_logging level must be a logging level number or name such as 'INFO', got {safe_repr(level)}"
            ) from None
    target = logging.getLogger(logger)
    for h in list(target.handlers):
        if isinstance(h, LoggingHandler):
            target.removeHandler(h)
    unconfigured = (
        (target is logging.root and target.level == logging.WARNING and not target.handlers)
        or (target is not logging.root and target.level == logging.NOTSET)
    )
    handler = LoggingHandler(console=not _prints_to_terminal(target))
    target.addHandler(handler)
    if level is not None:
        target.setLevel(level)
    elif unconfigured:
        target.setLevel(_CORE_TO_STDLIB.get(_events.max_level, logging.CRITICAL + 1))
    return handler
