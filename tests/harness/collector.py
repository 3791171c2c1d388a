"""A real OTLP collector for the cross-language tests: ``rotel-agent`` (from the ``rotel`` PyPI
package) started on free loopback ports, and a parser for what it prints with
``--debug-log-verbosity detailed`` (spans with their resource, status and events; log records).

    with Collector() as c:
        run_something(env={"OTEL_EXPORTER_OTLP_ENDPOINT": c.http_endpoint})
        spans = c.wait_for_count(12)

For large runs, ``Collector(detailed=False)`` prints one summary line per export request
instead of every span: :meth:`Collector.span_count` still counts exactly (cheaply, without
parsing), :meth:`Collector.spans` is then empty. ``Collector(http_port=p)`` starts on given
ports, e.g. where a process that has been exporting to nothing is still sending.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple


class CollectorError(AssertionError):
    """The collector could not start, or never received what a test waited for."""


def rotel_agent() -> str:
    """The collector binary: ``$ROTEL_AGENT``, else the one inside the installed ``rotel``
    package, else ``rotel-agent`` on ``PATH``."""
    path = os.environ.get("ROTEL_AGENT", "")
    if not path:
        try:
            import rotel  # type: ignore[import-not-found]

            path = str(Path(rotel.__file__).parent / "rotel-agent")
        except ImportError:
            path = shutil.which("rotel-agent") or ""
    if not path or not os.access(path, os.X_OK):
        raise CollectorError("rotel-agent not found: run scripts/test.sh (installs rotel into .venv) or set ROTEL_AGENT")
    return path


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Event:
    """A span event: its name and attributes."""

    name: str = ""
    attributes: Dict[str, str] = field(default_factory=dict)


@dataclass
class Span:
    """One span as the collector printed it (attribute values as printed, e.g. ``42`` for an
    ``Int(42)``; multi-line values keep their first line)."""

    trace_id: str = ""
    span_id: str = ""
    parent_id: str = ""
    name: str = ""
    service: str = ""
    resource: Dict[str, str] = field(default_factory=dict)
    status: str = ""
    status_message: str = ""
    attributes: Dict[str, str] = field(default_factory=dict)
    events: List[Event] = field(default_factory=list)

    @property
    def is_error(self) -> bool:
        return self.status == "STATUS_CODE_ERROR"


@dataclass
class LogRecord:
    """One OTLP log record."""

    body: str = ""
    severity: str = ""
    service: str = ""
    trace_id: str = ""
    span_id: str = ""
    attributes: Dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    """Everything parsed from the collector's output."""

    spans: List[Span] = field(default_factory=list)
    logs: List[LogRecord] = field(default_factory=list)


_TYPED = re.compile(r"^-> ([^:]+): \w+\((.*?)(\))?$")
_PLAIN = re.compile(r"^-> ([^:]+): ?(.*)$")
_HEADER = re.compile(r"^(Trace ID|Parent ID|ID|Span ID|Name|Status code|Status message)\s+: ?(.*)$")


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SUMMARY_SPANS = re.compile(r"Received traces\..*?\bspans=(\d+)")


def _attr(line: str) -> Optional[Tuple[str, str]]:
    """``-> key: Str(value)`` (or the first line of a multi-line value) as ``(key, value)``."""
    m = _TYPED.match(line) or _PLAIN.match(line)
    return (m.group(1), m.group(2)) if m else None


def parse(text: str) -> Received:
    """Parses rotel-agent's detailed debug output."""
    out = Received()
    resource: Dict[str, str] = {}
    section = ""  # resource | attributes | events | event-attributes | log-attributes
    span: Optional[Span] = None
    log: Optional[LogRecord] = None
    event: Optional[Event] = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(("ResourceSpans #", "ResourceLog #", "ResourceLogs #", "ResourceMetrics #")):
            resource, span, log, event, section = {}, None, None, None, ""
        elif line == "Resource attributes:":
            section = "resource"
        elif line.startswith("Span #"):
            span, log, event, section = Span(resource=resource, service=resource.get("service.name", "")), None, None, ""
            out.spans.append(span)
        elif line.startswith("LogRecord #"):
            log, span, event, section = LogRecord(service=resource.get("service.name", "")), None, None, ""
            out.logs.append(log)
        elif line.startswith(("ScopeSpans", "ScopeLogs", "InstrumentationScope", "Metric #")):
            section = ""
        elif line == "Attributes:":
            section = "log-attributes" if log is not None else "attributes"
        elif line == "Events:":
            section = "events"
        elif line.startswith("SpanEvent #") and span is not None:
            event = Event()
            span.events.append(event)
            section = "event"
        elif line.startswith("-> Name:") and section == "event" and event is not None:
            event.name = line.split(":", 1)[1].strip()
        elif line.startswith("-> Attributes::") and event is not None:
            section = "event-attributes"
        elif line.startswith("Body:") and log is not None:
            a = _attr("-> body: " + line.split(":", 1)[1].strip())
            log.body = a[1] if a else ""
        elif line.startswith("SeverityText:") and log is not None:
            log.severity = line.split(":", 1)[1].strip()
        elif _HEADER.match(line):
            key, value = _HEADER.match(line).groups()  # type: ignore[union-attr]
            value = value.strip()
            if span is not None:
                if key == "Trace ID":
                    span.trace_id = value
                elif key == "Parent ID":
                    span.parent_id = value
                elif key == "ID":
                    span.span_id = value
                elif key == "Name":
                    span.name = value
                elif key == "Status code":
                    span.status = value
                elif key == "Status message":
                    span.status_message = value
            elif log is not None:
                if key == "Trace ID":
                    log.trace_id = value
                elif key == "Span ID":
                    log.span_id = value
        elif line.startswith("->"):
            a = _attr(line)
            if a is None:
                continue
            if section == "resource":
                resource[a[0]] = a[1]
            elif section == "attributes" and span is not None:
                span.attributes[a[0]] = a[1]
            elif section == "event-attributes" and event is not None:
                event.attributes[a[0]] = a[1]
            elif section == "log-attributes" and log is not None:
                log.attributes[a[0]] = a[1]
    return out


class Collector:
    """A running ``rotel-agent`` on free loopback ports (gRPC and HTTP), printing everything it
    receives to a temporary file; use as a context manager or call :meth:`stop`."""

    def __init__(
        self,
        startup_timeout: float = 20,
        *,
        grpc_port: Optional[int] = None,
        http_port: Optional[int] = None,
        detailed: bool = True,
        metrics: bool = False,
    ) -> None:
        """``grpc_port``/``http_port``: listen there (default: free ports). ``detailed``: print
        every span and log record (else one summary line per request, for big runs).
        ``metrics``: print metric data points too (:meth:`output` has them)."""
        self.grpc_port, self.http_port = grpc_port or free_port(), http_port or free_port()
        self.detailed = detailed
        fd, self.out = tempfile.mkstemp(prefix="rotel-", suffix=".log")
        self._file = os.fdopen(fd, "w")
        signals = ["--debug-log", "traces", "--debug-log", "logs"] + (["--debug-log", "metrics"] if metrics else [])
        self.proc = subprocess.Popen(
            [
                rotel_agent(), "start",
                "--otlp-grpc-endpoint", f"127.0.0.1:{self.grpc_port}",
                "--otlp-http-endpoint", f"127.0.0.1:{self.http_port}",
                *signals,
                "--debug-log-verbosity", "detailed" if detailed else "basic",
                "--exporter", "blackhole",
            ],
            stdout=self._file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + startup_timeout
        while not (self._listening(self.http_port) and self._listening(self.grpc_port)):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise CollectorError(f"rotel-agent did not start:\n{self.output()}")
            time.sleep(0.05)

    def __enter__(self) -> "Collector":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

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

    def received(self) -> Received:
        return parse(self.output())

    def spans(self) -> List[Span]:
        return self.received().spans

    def span_count(self) -> int:
        """Spans received so far, counted without parsing (fast on large outputs; exact in both
        verbosities)."""
        text = self.output()
        if self.detailed:
            return text.count("\nSpan #")
        return sum(int(n) for n in _SUMMARY_SPANS.findall(_ANSI.sub("", text)))

    def wait_for_span_count(self, count: int, timeout: float = 60, settle: float = 1.0) -> int:
        """Waits until at least ``count`` spans arrived (counted with :meth:`span_count`), then
        ``settle`` seconds more; returns the count then (a surplus shows)."""
        deadline = time.monotonic() + timeout
        while self.span_count() < count:
            if time.monotonic() > deadline:
                raise CollectorError(f"collector received {self.span_count()} spans, expected {count}")
            time.sleep(0.2)
        time.sleep(settle)
        return self.span_count()

    def wait_for_count(self, count: int, timeout: float = 30, settle: float = 1.0) -> List[Span]:
        """Waits until at least ``count`` spans arrived, then ``settle`` seconds more (so a
        surplus would show); returns all spans received."""
        deadline = time.monotonic() + timeout
        while len(self.spans()) < count:
            if time.monotonic() > deadline:
                raise CollectorError(
                    f"collector received {len(self.spans())} spans, expected {count}; it printed:\n{self.output()[-6000:]}"
                )
            time.sleep(0.1)
        time.sleep(settle)
        return self.spans()

    def wait_for_spans(self, names: Sequence[str], timeout: float = 30) -> Dict[str, Span]:
        """Waits until a span of each name arrived; returns the last of each name."""
        deadline = time.monotonic() + timeout
        while True:
            by_name = {s.name: s for s in self.spans()}
            if all(n in by_name for n in names):
                return by_name
            if time.monotonic() > deadline:
                missing = [n for n in names if n not in by_name]
                raise CollectorError(f"collector never received spans {missing}; it printed:\n{self.output()[-6000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if not self._file.closed:
            self._file.close()
        if os.environ.get("TASKER_KEEP_COLLECTOR_LOG") != "1":
            try:
                os.unlink(self.out)
            except OSError:
                pass
