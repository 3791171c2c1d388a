"""Operating it from Python (issue 14): the Prometheus text and its WSGI app, health
components and readiness. The scrape from three languages is in tests/integration/test_operate.py."""

from __future__ import annotations

import pytest

from tasker_core import tracing

from conftest import run_python


def test_wsgi_app_serves_the_prometheus_text_and_health_is_pushed():
    proc = run_python(
        """
        from tasker_core import tracing
        tracing.counter("tasker_steps_claimed_total", 2, namespace="payments")
        seen = {}
        def start_response(status, headers):
            seen["status"], seen["headers"] = status, dict(headers)
        body = b"".join(tracing.prometheus_wsgi_app({"REQUEST_METHOD": "GET"}, start_response))
        assert seen["status"] == "200 OK", seen
        assert seen["headers"]["Content-Type"].startswith("text/plain; version=0.0.4")
        assert "tasker_steps_claimed_total" in tracing.prometheus_text()  # the same text (process metrics move)
        assert 'tasker_steps_claimed_total{namespace="payments"' in body.decode()
        tracing.prometheus_wsgi_app({"REQUEST_METHOD": "POST"}, start_response)
        assert seen["status"].startswith("405"), seen
        assert tracing.readiness() == (True, [])
        tracing.set_health("queue", "degraded", reason="lagging")
        tracing.set_health("database", "unhealthy", reason="connection refused")
        ready, reasons = tracing.readiness()
        assert not ready and any("database" in r for r in reasons), reasons
        detailed = tracing.health_detailed()
        assert detailed["components"]["queue"]["status"] == "degraded", detailed
        tracing.set_health("database", "healthy")
        assert tracing.readiness()[0]
        print("OK")
        """,
        env={"OTEL_METRICS_EXPORTER": "prometheus", "TASKER_PROMETHEUS_SERVE": "false"},
    )
    assert "OK" in proc.stdout


def test_set_health_names_the_allowed_statuses():
    with pytest.raises(tracing.TracingError, match="healthy, degraded or unhealthy"):
        tracing.set_health("database", "sick")


def test_prometheus_text_without_prometheus_says_why():
    with pytest.raises(tracing.TracingError, match="OTEL_METRICS_EXPORTER"):
        tracing.prometheus_text()


from conftest import json_lines  # noqa: E402

PROM = {"OTEL_METRICS_EXPORTER": "prometheus", "TASKER_PROMETHEUS_SERVE": "false", "TASKER_LOG_FORMAT": "json"}


def test_a_slow_python_span_is_reported_and_counted():
    proc = run_python(
        """
        import time
        from tasker_core import tracing
        with tracing.correlation(correlation_id="0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11"):
            with tracing.span("slow_step"):
                time.sleep(0.12)
            with tracing.span("quick_step"):
                pass
        print(tracing.prometheus_text())
        """,
        env={**PROM, "TASKER_SLOW_THRESHOLD_MS": "50"},
    )
    slow = [l for l in json_lines(proc.stderr) if l["message"].startswith("slow_operation")]
    assert len(slow) == 1, proc.stderr
    fields = slow[0]["fields"]
    assert slow[0]["level"] == "WARN"
    assert fields["operation"] == "slow_step" and fields["threshold_ms"] == 50 and fields["duration_ms"] >= 100
    assert slow[0].get("correlation_id", fields.get("correlation_id")) == "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11"
    assert 'tasker_slow_operations_total{operation="slow_step"' in proc.stdout


def test_monitor_reports_duration_and_a_memory_spike():
    proc = run_python(
        """
        from tasker_core import tracing
        with tracing.monitor("import_batch") as m:
            block = bytearray(48 * 1024 * 1024)
            for i in range(0, len(block), 4096):
                block[i] = 1
        r = m.report
        print("REPORT", r.duration_ms >= 0, r.memory_delta_bytes > 32 * 1024 * 1024, r.memory_spike, r.slow)

        @tracing.monitor("decorated")
        def work():
            return 7
        print("DECORATED", work())
        """,
        env={**PROM, "TASKER_MEMORY_THRESHOLD_MB": "1"},
    )
    assert "REPORT True True True False" in proc.stdout, proc.stdout + proc.stderr
    assert "DECORATED 7" in proc.stdout
    spikes = [l for l in json_lines(proc.stderr) if l["message"].startswith("memory_spike")]
    assert len(spikes) == 1 and spikes[0]["fields"]["operation"] == "import_batch", proc.stderr


def test_sampling_suppresses_and_counts_but_errors_pass():
    proc = run_python(
        """
        from tasker_core import tracing
        for i in range(200):
            tracing.info("heartbeat", i=i)
        tracing.error("payment failed")
        print(tracing.prometheus_text())
        """,
        env={**PROM, "TASKER_EVENTS_SAMPLE_RATE": "0"},
    )
    messages = [l["message"] for l in json_lines(proc.stderr)]
    assert "heartbeat" not in messages and "payment failed" in messages, proc.stderr
    assert 'tasker_telemetry_suppressed_total{reason="sampled"' in proc.stdout, proc.stdout


def test_level_changes_at_run_time_and_bad_ones_are_refused():
    proc = run_python(
        """
        from tasker_core import tracing
        tracing.debug("hidden")
        changes = tracing.set_level("debug")
        print("CHANGES", changes)
        assert tracing.enabled("debug")
        tracing.debug("now shown")
        try:
            tracing.set_level("loud")
        except tracing.ConfigError as e:
            print("REFUSED", "telemetry.logging.level" in str(e))
        tracing.debug("still shown")
        print("RUNTIME", tracing.set_runtime(slow_operations_threshold_ms=5))
        try:
            tracing.set_runtime(otlp_endpoint="http://x")
        except tracing.ConfigError as e:
            print("NOT_RUNTIME", "otlp_endpoint` cannot change at run time" in str(e))
        """,
        env={"TASKER_LOG_FORMAT": "json", "TASKER_LOG_LEVEL": "info"},
    )
    messages = [l["message"] for l in json_lines(proc.stderr)]
    assert "hidden" not in messages and "now shown" in messages and "still shown" in messages, proc.stderr
    assert "REFUSED True" in proc.stdout and "NOT_RUNTIME True" in proc.stdout, proc.stdout + proc.stderr
    assert "telemetry.slow_operations.threshold_ms: 1000 → 5" in proc.stdout, proc.stdout


def test_sighup_reloads_the_file_and_the_cached_level_follows(tmp_path):
    config = tmp_path / "telemetry.toml"
    config.write_text('[telemetry.logging]\nlevel = "warn"\nformat = "json"\n')
    proc = run_python(
        f"""
        import os, signal, time
        from pathlib import Path
        from tasker_core import tracing
        assert not tracing.enabled("debug")
        Path({str(config)!r}).write_text('[telemetry.logging]\\nlevel = "debug"\\nformat = "json"\\n')
        os.kill(os.getpid(), signal.SIGHUP)
        deadline = time.time() + 10
        while not tracing.enabled("debug") and time.time() < deadline:
            time.sleep(0.05)
        print("DEBUG", tracing.enabled("debug"))
        tracing.debug("after reload")
        """,
        env={"TASKER_CONFIG": str(config)},
    )
    assert "DEBUG True" in proc.stdout, proc.stdout + proc.stderr
    assert "after reload" in [l["message"] for l in json_lines(proc.stderr)]


def test_set_runtime_is_all_or_nothing():
    proc = run_python(
        """
        from tasker_core import tracing
        try:
            tracing.set_runtime(logging_level="debug", events_sample_rate=2)
        except tracing.ConfigError as e:
            print("REFUSED", "events" in str(e))
        print("DEBUG", tracing.enabled("debug"))
        """,
        env={"TASKER_LOG_LEVEL": "info"},
    )
    assert "REFUSED True" in proc.stdout and "DEBUG False" in proc.stdout, proc.stdout + proc.stderr
