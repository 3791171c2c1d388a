"""Operating it (issue 14) from Rust, Ruby and Python processes alike: the Prometheus scrape
parsed by the official Prometheus client's parser, the bearer token, and the health probes
flipping on a component the host pushes."""

from __future__ import annotations

import subprocess
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from typing import Dict, List, Optional, Tuple

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.collector import free_port
from harness.packages import _clean_env, binary, python_exe

TOKEN = "s3cret-scrape-token"

RUBY = """
    require "tasker_core/tracing"
    T = TaskerCore::Tracing
    T.counter("tasker_steps_claimed_total", 3, namespace: 'pay"ments')
    T.histogram("tasker_step_execution_duration", 12.5)
    T.set_health("database", :unhealthy, reason: "connection refused")
    $stdout.puts "READY"; $stdout.flush
    $stdin.gets
    T.set_health("database", :healthy)
    $stdout.puts "HEALTHY"; $stdout.flush
    $stdin.gets
"""

PYTHON = """
    import sys
    from tasker_core import tracing
    tracing.counter("tasker_steps_claimed_total", 3, namespace='pay"ments')
    tracing.histogram("tasker_step_execution_duration", 12.5)
    tracing.set_health("database", "unhealthy", reason="connection refused")
    print("READY", flush=True)
    sys.stdin.readline()
    tracing.set_health("database", "healthy")
    print("HEALTHY", flush=True)
    sys.stdin.readline()
"""


def command(lang: str) -> List[str]:
    if lang == "rust":
        return [binary("operate_probe")]
    if lang == "ruby":
        return ["ruby", "-e", textwrap.dedent(RUBY)]
    return [python_exe(), "-c", textwrap.dedent(PYTHON)]


def get(port: int, path: str, token: Optional[str] = TOKEN) -> Tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def wait_line(proc: subprocess.Popen, want: str) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line == want, f"expected {want}, got {line!r}; stderr: {proc.stderr.read() if proc.stderr else ''}"


@pytest.mark.parametrize("lang", ["rust", "ruby", "python"])
def test_scrape_token_and_health_probes(lang: str) -> None:
    port = free_port()
    env: Dict[str, str] = _clean_env(
        {
            "OTEL_METRICS_EXPORTER": "prometheus",
            "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
            "OTEL_EXPORTER_PROMETHEUS_PORT": str(port),
            "TASKER_PROMETHEUS_TOKEN": TOKEN,
            "OTEL_SERVICE_NAME": f"operate-{lang}",
            "TASKER_TRACING_AUTO_INIT": "1",
        }
    )
    proc = subprocess.Popen(
        command(lang), env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, cwd=tempfile.gettempdir(),
    )
    try:
        wait_line(proc, "READY")
        # The token: required on every path, compared exactly.
        assert get(port, "/metrics", token=None)[0] == 401
        assert get(port, "/metrics", token=TOKEN[:-1])[0] == 401
        assert get(port, "/health", token=None)[0] == 401

        status, text = get(port, "/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(text)}
        claimed = families["tasker_steps_claimed"]
        assert claimed.type == "counter"
        sample = next(s for s in claimed.samples if s.name == "tasker_steps_claimed_total")
        assert sample.value == 3
        assert sample.labels["namespace"] == 'pay"ments'  # escaped by the library, parsed back
        duration = families["tasker_step_execution_duration_milliseconds"]
        assert duration.type == "histogram"
        count = next(s for s in duration.samples if s.name.endswith("_count"))
        assert count.value == 1
        assert families["target_info"].samples[0].labels["service_name"] == f"operate-{lang}"
        assert TOKEN not in text

        assert get(port, "/health")[0] == 200
        status, body = get(port, "/health/ready")
        assert status == 503 and "database" in body
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
        wait_line(proc, "HEALTHY")
        deadline = time.monotonic() + 10
        while get(port, "/health/ready")[0] != 200:
            assert time.monotonic() < deadline, get(port, "/health/ready")
            time.sleep(0.1)
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
