"""Changes without a restart: levels, event sampling and rate limits, slow-operation
thresholds, a reload of the configuration file; and the watcher that keeps this package's cached
level right after a change made elsewhere (``SIGHUP``, Rust code, another thread)."""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, List, Optional

from . import _events, _native


def _changed(change: Callable[[], List[str]]) -> List[str]:
    """Runs a change; the cached level follows the core whatever it did (also when it raised)."""
    try:
        return change()
    finally:
        _events.refresh_max_level()


def set_level(level: str) -> List[str]:
    """Sets the console filter at run time: a level name (``"debug"``, ``"warning"``, ...) or
    ``RUST_LOG``-style directives (``"info,payments=debug"``). Returns the changes made (each
    ``"key: old → new"``, also logged once). Raises ConfigError naming the problem (nothing
    changes)."""
    return _changed(lambda: _native.set_level(level))


def set_export_level(level: str) -> List[str]:
    """Sets the export filter of spans and exported log events at run time (see
    :func:`set_level`)."""
    return _changed(lambda: _native.set_export_level(level))


def set_runtime(**settings: Any) -> List[str]:
    """Changes settings that can change at run time, spelled as :func:`init`'s overrides:
    ``events_sample_rate=0.1``, ``events_sampling={"payments": 0.5}``,
    ``events_rate_limit_per_s=100``, ``events_filtered=["heartbeat"]``,
    ``slow_operations_threshold_ms=500``, ``slow_operations_overrides={"execute_step": 5000}``,
    ``logging_level="debug"``, ... Returns the changes made, all or none: raises ConfigError for
    a key that cannot change at run time (naming those that can) or a bad value, and nothing
    changes."""
    return _changed(lambda: _native.set_runtime(settings))


def reload_config() -> List[str]:
    """Re-reads the configuration file (``TASKER_CONFIG``, its ``TASKER_ENV`` overlay, the
    environment) and applies what can change at run time, as ``SIGHUP`` does when the host has
    not claimed it. Returns the changes made; raises ConfigError for a bad value (nothing
    changes) or when no file was read."""
    return _changed(_native.reload_config)


class _Watcher:
    """One daemon thread that waits (without the GIL) for the core's runtime generation to
    move, and refreshes the cached level then."""

    def __init__(self) -> None:
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tasker-runtime-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        seen = _native.runtime_generation()
        while True:
            now = _native.wait_for_runtime_change(seen, 60.0)
            if now != seen:
                seen = now
                _events.refresh_max_level()


_WATCHER = _Watcher()


def start_watcher() -> None:
    """At import (and in a forked child, where threads do not survive)."""
    _WATCHER.start()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=start_watcher)
