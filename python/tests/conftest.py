"""Shared fixtures: an in-memory capture of the real pipeline, subprocess runs, and a real
``rotel-agent`` OTLP collector."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import pytest

from tasker_core import _native, tracing


class Capture:
    """The production subscriber stack with spans and console lines kept in memory; active on
    the threads that call :meth:`run`."""

    def __init__(self, overrides: Sequence[Tuple[str, str]] = ()) -> None:
        self._inner = _native._TestingCapture(list(overrides))
        tracing._refresh_max_level()

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
    tracing._refresh_max_level()


@pytest.fixture
def capture_factory() -> Iterator[Callable[..., Capture]]:
    """Builds captures with other overrides."""
    yield lambda *overrides: Capture(overrides)
    tracing._refresh_max_level()


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
# rotel-agent


def rotel_agent() -> str:
    """The collector binary: ``$ROTEL_AGENT``, else the one in the ``rotel`` package."""
    path = os.environ.get("ROTEL_AGENT")
    if not path:
        try:
            import rotel  # type: ignore[import-not-found]

            path = str(Path(rotel.__file__).parent / "rotel-agent")
        except ImportError:
            path = shutil.which("rotel-agent") or ""
    if not path or not os.access(path, os.X_OK):
        pytest.fail("rotel-agent not found: run scripts/test-python.sh (installs rotel) or set ROTEL_AGENT")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class ReceivedSpan:
    """One span as the collector printed it."""

    trace_id: str = ""
    parent_id: str = ""
    span_id: str = ""
    name: str = ""
    attributes: Dict[str, str] = field(default_factory=dict)


_ATTR = re.compile(r"^-> ([^:]+): (?:\w+\((.*)\)|(.*))$")


def parse_spans(text: str) -> List[ReceivedSpan]:
    """Spans from rotel-agent's detailed debug output (``Span #``, ``Trace ID``, ``Parent ID``,
    ``ID``, ``Name`` and ``-> key: Str(value)`` attribute lines)."""
    spans: List[ReceivedSpan] = []
    current: Optional[ReceivedSpan] = None
    in_attributes = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(("ResourceSpans #", "ResourceMetrics #", "ResourceLogs #", "Metric #")):
            current, in_attributes = None, False
        elif line.startswith("Span #"):
            current, in_attributes = ReceivedSpan(), False
            spans.append(current)
        elif current is None:
            continue
        elif line == "Attributes:":
            in_attributes = True
        elif line.endswith(":") and not line.startswith("->"):
            in_attributes = False
        elif " : " in line and not line.startswith("->"):
            key, value = (p.strip() for p in line.split(" : ", 1))
            if key == "Trace ID":
                current.trace_id = value
            elif key == "Parent ID":
                current.parent_id = value
            elif key == "ID":
                current.span_id = value
            elif key == "Name":
                current.name = value
        elif in_attributes:
            m = _ATTR.match(line)
            if m:
                current.attributes[m.group(1)] = m.group(2) if m.group(2) is not None else m.group(3)
    return spans


class Collector:
    """A running ``rotel-agent`` on free loopback ports, printing what it receives."""

    def __init__(self) -> None:
        self.grpc_port, self.http_port = free_port(), free_port()
        fd, self.out = tempfile.mkstemp(prefix="rotel-", suffix=".log")
        self._file = os.fdopen(fd, "w")
        self.proc = subprocess.Popen(
            [
                rotel_agent(), "start",
                "--otlp-grpc-endpoint", f"127.0.0.1:{self.grpc_port}",
                "--otlp-http-endpoint", f"127.0.0.1:{self.http_port}",
                "--debug-log", "traces", "--debug-log", "metrics", "--debug-log", "logs",
                "--debug-log-verbosity", "detailed",
                "--exporter", "blackhole",
            ],
            stdout=self._file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not (self._listening(self.http_port) and self._listening(self.grpc_port)):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                pytest.fail(f"rotel-agent did not start:\n{self.output()}")
            time.sleep(0.05)

    @staticmethod
    def _listening(port: int) -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    def output(self) -> str:
        try:
            return Path(self.out).read_text(errors="replace")
        except OSError:
            return ""

    def wait_for_spans(self, names: Sequence[str], timeout: float = 20) -> Dict[str, ReceivedSpan]:
        """Waits until a span of each name arrived; returns them by name."""
        deadline = time.monotonic() + timeout
        while True:
            by_name = {s.name: s for s in parse_spans(self.output())}
            if all(n in by_name for n in names):
                return by_name
            if time.monotonic() > deadline:
                pytest.fail(f"collector never received spans {list(names)}; it printed:\n{self.output()[-8000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._file.close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.stop()
    os.unlink(c.out)
