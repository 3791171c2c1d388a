"""Small helpers shared by the private modules: safe text of odd objects, argument checks."""

from __future__ import annotations

import numbers
import sys
import traceback
from typing import Any, Dict, Mapping, Tuple

from ._native import TracingError


def caller_module(depth: int) -> str:
    """``__name__`` of the module ``depth`` frames up (the target of spans and events)."""
    try:
        return sys._getframe(depth + 1).f_globals.get("__name__", "") or ""
    except Exception:
        return ""


def qualified_type(exc: BaseException) -> str:
    kind = type(exc)
    module = getattr(kind, "__module__", "builtins")
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__qualname__}>"


def safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<unprintable {type(value).__qualname__}>"


def mapping(value: Any, what: str) -> Dict[Any, Any]:
    """``value`` (a mapping, or ``None`` for empty) as a dict; TracingError otherwise."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TracingError(f"{what} must be a mapping such as a dict, got {type(value).__qualname__}")
    try:
        return dict(value)
    except Exception as exc:
        raise TracingError(f"{what}: the mapping could not be read ({type(exc).__name__}: {exc})") from None


def seconds(value: Any, what: str) -> float:
    """A timeout in seconds; TracingError for anything that is not a real number (a string or a
    bool included, as in Ruby; the core rejects negative, infinite and NaN ones)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TracingError(f"{what} must be a number of seconds, got {safe_repr(value)}")
    try:
        return float(value)
    except Exception:
        raise TracingError(f"{what} must be a number of seconds, got {safe_repr(value)}") from None


def exception_parts(exc: BaseException) -> Tuple[str, str, str]:
    """``(exception.type, exception.message, exception.stacktrace)`` of ``exc``."""
    try:
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:
        stack = ""
    return qualified_type(exc), safe_str(exc), stack


_reported: set = set()


def report(where: str, exc: BaseException) -> None:
    """Reports a failed log call once per kind on stderr (log calls never raise)."""
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
