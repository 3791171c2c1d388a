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
        assert body.decode() == tracing.prometheus_text()
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
