"""Shared fixtures: an in-memory capture of the real pipeline, subprocess runs, and a real
``rotel-agent`` OTLP collector."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

from tasker_core import _events, _native, tracing

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from harness.collector import Collector  # noqa: E402  (the repository's tests/ folder)


class Capture:
    """The production subscriber stack with spans and console lines kept in memory; active on
    the threads that call :meth:`run`."""

    def __init__(self, overrides: Sequence[Tuple[str, str]] = ()) -> None:
        self._inner = _native._TestingCapture(list(overrides))
        _events.refresh_max_level()

    def run(self, fn: Callable[[], Any]) -> Any:
        return self._inner.run(fn)

    def spans(self) -> List[Dict[str, Any]]:
        return self._inner.spans()

    def span(self, name: str) -> Dict[str, Any]:
        found = [s for s in self.spans() if s["name"] == name]
        assert found, f"no span {name!r} among {[s['name'] for s in self.spans()]}"
        return found[0]

    def lines(self) -> List[str]:
        return self._inner.lines()

    def json_lines(self) -> List[Dict[str, Any]]:
        out = []
        for line in self.lines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out


@pytest.fixture
def capture() -> Iterator[Capture]:
    """A capture with JSON console lines (everything at info and above)."""
    yield Capture([("logging.format", "json")])
    _events.refresh_max_level()


@pytest.fixture
def capture_factory() -> Iterator[Callable[..., Capture]]:
    """Builds captures with other overrides."""
    yield lambda *overrides: Capture(overrides)
    _events.refresh_max_level()


def run_python(code: str, env: Optional[Dict[str, str]] = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs ``code`` in a fresh interpreter (init is once per process); fails the test on a
    non-zero exit."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TASKER_"))}
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=tempfile.gettempdir(),
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def json_lines(text: str) -> List[Dict[str, Any]]:
    out = []
    for line in text.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


# ---------------------------------------------------------------------------------------------
# rotel-agent: the repository's collector harness (tests/harness/collector.py), shared with the
# cross-language tests


@pytest.fixture
def collector() -> Iterator[Collector]:
    """A real OTLP collector (``rotel-agent``) on free loopback ports, printing the spans, metric
    data points and log records it receives."""
    with Collector(metrics=True) as c:
        yield c
