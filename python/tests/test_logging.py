"""Log events, levels, the stdlib logging bridge, never-raise behaviour, metrics."""

from __future__ import annotations

import logging

import pytest

from tasker_core import _events, _util, tracing

from conftest import run_python


def test_events_carry_target_fields_and_span(capture):
    def work():
        with tracing.span("order") as s:
            tracing.info("charged", amount=9.5, order_id=7)
            tracing.warning("slow", ms=1200)
            tracing.event("error", "failed", code="E1")
            return s

    s = capture.run(work)
    lines = {l["message"]: l for l in capture.json_lines()}
    charged = lines["charged"]
    assert charged["level"] == "INFO" and charged["target"] == __name__
    assert charged["fields"] == {"amount": 9.5, "order_id": 7}
    assert charged["trace_id"] == s.trace_id and charged["span_id"] == s.span_id
    assert charged["spans"] == ["order"]
    assert lines["slow"]["level"] == "WARN" and lines["failed"]["level"] == "ERROR"
    assert any(e["name"] == "charged" for e in capture.span("order")["events"])


def test_enabled_is_answered_on_the_python_side_and_disabled_calls_stay_there(capture, monkeypatch):
    calls = []

    class Spy:
        def __getattr__(self, name):
            calls.append(name)
            raise AssertionError(f"crossed into Rust: {name}")

    assert tracing.enabled("info") and tracing.enabled(logging.ERROR) and not tracing.enabled("debug")
    monkeypatch.setattr(_events, "_native", Spy())
    tracing.debug("invisible", big=list(range(1000)))
    tracing.trace("invisible")
    tracing.event("debug", "invisible")
    assert not tracing.enabled("trace")
    assert calls == []


def test_debug_is_printed_when_the_console_level_allows(capture_factory):
    cap = capture_factory(("logging.format", "json"), ("logging.level", "debug"))
    assert tracing.enabled("debug")
    cap.run(lambda: tracing.debug("now visible", n=1))
    assert any(l["message"] == "now visible" and l["level"] == "DEBUG" for l in cap.json_lines())


def test_logging_bridge_routes_stdlib_records(capture):
    logger = logging.getLogger("tests.bridge")
    handler = tracing.install_logging(logging.DEBUG, logger="tests.bridge")
    try:
        def work():
            with tracing.span("handler") as s:
                logger.info("hello %s", "world", extra={"order_id": 7, "password": "hunter2"})
                try:
                    raise ValueError("bad input")
                except ValueError:
                    logger.exception("failed")
                logger.debug("below the console level")
                return s

        s = capture.run(work)
    finally:
        logger.removeHandler(handler)
    lines = {l["message"]: l for l in capture.json_lines()}
    hello = lines["hello world"]
    assert hello["target"] == "tests.bridge" and hello["level"] == "INFO"
    assert hello["fields"]["order_id"] == 7 and hello["fields"]["password"] == "[REDACTED]"
    assert hello["span_id"] == s.span_id
    failed = lines["failed"]
    assert failed["level"] == "ERROR"
    assert failed["fields"]["exception.type"] == "ValueError"
    assert failed["fields"]["exception.message"] == "bad input"
    assert "Traceback" in failed["fields"]["exception.stacktrace"]
    assert "below the console level" not in lines
    assert any(e["name"] == "hello world" for e in capture.span("handler")["events"])


def test_install_logging_replaces_its_previous_handler():
    name = "tests.replace"
    first = tracing.install_logging(logger=name)
    second = tracing.install_logging(logger=name)
    handlers = logging.getLogger(name).handlers
    try:
        assert second in handlers and first not in handlers
    finally:
        logging.getLogger(name).removeHandler(second)


def test_failures_in_log_calls_are_reported_once_and_never_raised(capture, monkeypatch, capsys):
    _util._reported.clear()
    logger = logging.getLogger("tests.broken")
    logger.propagate = False  # pytest's own handler would raise on the bad record
    handler = tracing.install_logging(logger="tests.broken")
    try:
        capture.run(lambda: logger.info("%d items", "not a number"))  # cannot be formatted: kept as is
    finally:
        logger.removeHandler(handler)
    kept = next(l for l in capture.json_lines() if l["message"] == "%d items")
    assert "TypeError" in kept["fields"]["logging.format_error"]

    class Broken:
        def event(self, *args):
            raise RuntimeError("native failure")

        def __getattr__(self, name):
            raise RuntimeError("native failure")

    monkeypatch.setattr(_events, "_native", Broken())
    tracing.info("x")
    tracing.error("y")
    err = capsys.readouterr().err
    assert err.count("logging handler failed") == 0
    assert err.count("log call failed") == 1
    assert "native failure" in err


def test_metrics_and_lifecycle_events(capture):
    tracing.counter("tasker_steps_claimed_total", namespace="payments", correlation_id="x")
    tracing.up_down_counter("tasker_steps_in_flight", -1)
    tracing.histogram("tasker_step_execution_duration", 12.5, namespace="payments")
    tracing.gauge("tasker_queue_depth", 3)
    with pytest.raises(tracing.TracingError, match="must be a real number, got str"):
        tracing.histogram("tasker_step_execution_duration", "slow")

    def work():
        with tracing.span("step"):
            tracing.lifecycle("step.completed", duration_ms=12.5, labels={"namespace": "payments"}, step_name="charge")

    capture.run(work)
    assert any(e["name"] == "step.completed" for e in capture.span("step")["events"])
    with pytest.raises(tracing.TracingError, match="step.teleported"):
        tracing.lifecycle("step.teleported")


def test_install_logging_keeps_the_users_level_and_does_not_print_twice():
    # Before: install_logging() reset the root level to INFO and, next to basicConfig's stream
    # handler, every line was printed twice.
    proc = run_python(
        """
        import logging
        from tasker_core import tracing
        logging.basicConfig(level=logging.DEBUG, format="STDLIB %(message)s")
        handler = tracing.install_logging()
        print("LEVEL", logging.getLogger().level, "CONSOLE", handler.console)
        with tracing.span("with_logging") as span:
            logging.getLogger("app").debug("once please")
        """,
        env={"TASKER_LOG_LEVEL": "debug", "TASKER_OTLP_FILE": "/dev/null"},
    )
    assert f"LEVEL {logging.DEBUG} CONSOLE False" in proc.stdout
    assert proc.stderr.count("once please") == 1, proc.stderr
    assert "STDLIB once please" in proc.stderr


def test_install_logging_on_an_unconfigured_logger_follows_tasker_log_level():
    proc = run_python(
        """
        import logging
        from tasker_core import tracing
        handler = tracing.install_logging()
        print("LEVEL", logging.getLogger().level, "CONSOLE", handler.console)
        logging.getLogger("app").debug("debug line")
        """,
        env={"TASKER_LOG_LEVEL": "debug"},
    )
    assert f"LEVEL {logging.DEBUG} CONSOLE True" in proc.stdout
    assert proc.stderr.count("debug line") == 1, proc.stderr


def test_install_logging_exports_records_it_does_not_print(capture):
    logger = logging.getLogger("tests.quiet")
    logger.propagate = False
    handler = tracing.LoggingHandler(console=False)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        def work():
            with tracing.span("quiet_span"):
                logger.info("exported only")

        capture.run(work)
    finally:
        logger.removeHandler(handler)
    assert not any(l.get("message") == "exported only" for l in capture.json_lines())
    assert any(e["name"] == "exported only" for e in capture.span("quiet_span")["events"])
