"""Start-up and configuration, decided by the core the same way as in Ruby: export from the
environment at import, init() after that applies its overrides, a second init() is a
ConfigError, an invalid setting never silences the console, flush's default timeout is the
configured one."""

from __future__ import annotations

import json
import os
import tempfile
import time

import pytest

from tasker_core import tracing

from conftest import run_python


def _spans(path: str):
    out = []
    with open(path) as f:
        for line in f:
            for rs in json.loads(line).get("resourceSpans", []):
                service = next(
                    (a["value"].get("stringValue") for a in rs["resource"]["attributes"] if a["key"] == "service.name"),
                    None,
                )
                for ss in rs["scopeSpans"]:
                    for s in ss["spans"]:
                        out.append((service, s["name"]))
    return out


def test_export_starts_from_the_environment_without_init():
    # Before: only Ruby started export at load; a Python handler exported nothing, silently.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "spans.jsonl")
        run_python(
            """
            from tasker_core import tracing
            assert tracing.is_exporting()
            with tracing.span("auto_exported"):
                pass
            """,
            env={"TASKER_OTLP_FILE": path, "OTEL_SERVICE_NAME": "auto"},
        )
        assert ("auto", "auto_exported") in _spans(path)


def test_init_after_the_automatic_start_applies_its_overrides_and_a_second_init_is_a_config_error():
    # Before: init() raised "already initialised ... keep the returned guard" in the deployed
    # environment only (an export variable set), crashing the app at boot.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "spans.jsonl")
        proc = run_python(
            """
            from tasker_core import tracing
            with tracing.span("before_init"):
                pass
            tracing.init(service_name="worker")
            with tracing.span("after_init"):
                pass
            try:
                tracing.init()
            except tracing.ConfigError as e:
                print("AGAIN", type(e).__name__, e)
            """,
            env={"TASKER_OTLP_FILE": path},
        )
        assert "AGAIN ConfigError tracing.init() was already called" in proc.stdout
        assert "guard" not in proc.stdout
        spans = _spans(path)
        assert ("worker", "after_init") in spans
        assert any(name == "before_init" for _, name in spans), "nothing recorded before init is lost"


def test_configuration_errors_are_config_errors_and_others_are_not():
    proc = run_python(
        """
        from tasker_core import tracing
        try:
            tracing.init(otlp_protocol="carrier-pigeon")
        except tracing.ConfigError as e:
            print("CONFIG", isinstance(e, tracing.TracingError))
        try:
            tracing.flush(timeout=-1)
        except tracing.ConfigError:
            print("WRONG")
        except tracing.TracingError as e:
            print("RUNTIME", e)
        """
    )
    assert "CONFIG True" in proc.stdout
    assert "RUNTIME" in proc.stdout and "WRONG" not in proc.stdout


def test_init_overrides_take_python_values():
    proc = run_python(
        """
        from tasker_core import tracing
        tracing.init(service_name=None, logging_format="json", logging_redact_keys=["pin"],
                     otlp_timeout_ms=250, logging_export_logs=False, otlp_file=None)
        tracing.info("x", pin="1234", password="kept")
        """
    )
    line = [json.loads(l) for l in proc.stderr.splitlines() if l.startswith("{")][-1]
    assert line["fields"] == {"pin": "[REDACTED]", "password": "kept"}


def test_flush_waits_the_configured_shutdown_timeout_by_default():
    # Before: flush() waited 5 s whatever telemetry.otlp.shutdown_timeout_ms said.
    proc = run_python(
        """
        import socket, time
        from tasker_core import tracing
        server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(16)
        port = server.getsockname()[1]
        tracing.init(otlp_endpoint=f"http://127.0.0.1:{port}", otlp_timeout_ms=5000, otlp_shutdown_timeout_ms=300)
        with tracing.span("pending"):
            pass
        started = time.monotonic()
        try:
            tracing.flush()
        except tracing.TracingError:
            pass
        print("ELAPSED", time.monotonic() - started)
        """,
        env={"TASKER_SHUTDOWN_TIMEOUT_MS": "300"},
    )
    elapsed = float(proc.stdout.split("ELAPSED")[1])
    assert elapsed < 3.0, elapsed


@pytest.mark.parametrize("value", ["WARNING", "critical", "FATAL", "Error"])
def test_python_spellings_of_levels_keep_error_lines(value):
    # Before: a bare word that was not a RUST_LOG level was read as a target filter: the console
    # went silent, ERROR lines included.
    proc = run_python(
        """
        from tasker_core import tracing
        tracing.error("still printed")
        tracing.info("filtered out")
        """,
        env={"TASKER_LOG_LEVEL": value},
    )
    assert "still printed" in proc.stderr
    assert "filtered out" not in proc.stderr, "the level applies"
    assert "ERROR tasker_telemetry" not in proc.stderr, "the value is accepted, not replaced by defaults"


def test_level_names_are_the_cores_table():
    assert tracing.enabled("CRITICAL") and tracing.enabled("Fatal")
    for name in ("warning", "WARN", "critical", "fatal"):
        assert tracing.enabled(name)
    with pytest.raises(tracing.TracingError):
        tracing.enabled("verbose")
