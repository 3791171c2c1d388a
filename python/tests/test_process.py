"""Whole-process behaviour in fresh interpreters: console output at import, init, GIL release
during flush, export to a real rotel-agent collector, fork."""

from __future__ import annotations

import os

import pytest

from conftest import json_lines, run_python


def test_installed_package_is_tested():
    import tasker_core

    if os.environ.get("TASKER_TEST_INSTALLED") == "1":
        assert "site-packages" in tasker_core.__file__, tasker_core.__file__


def test_console_json_at_import_with_the_environment_level():
    proc = run_python(
        """
        from tasker_core import tracing
        tracing.debug("debug line", n=1)
        with tracing.span("work"):
            tracing.info("info line", user="ann")
        """,
        env={"TASKER_LOG_FORMAT": "json", "TASKER_LOG_LEVEL": "debug"},
    )
    lines = {l["message"]: l for l in json_lines(proc.stderr)}
    assert lines["debug line"]["level"] == "DEBUG" and lines["debug line"]["fields"] == {"n": 1}
    info = lines["info line"]
    assert info["target"] == "__main__" and info["spans"] == ["work"]
    assert len(info["trace_id"]) == 32 and info["fields"] == {"user": "ann"}
    assert list(info)[:3] == ["timestamp", "level", "target"]


def test_invalid_environment_is_a_warning_at_import_and_an_error_in_init():
    proc = run_python(
        """
        from tasker_core import tracing
        tracing.info("still logging")
        try:
            tracing.init()
        except tracing.TracingError as e:
            print("init:", e)
        """,
        env={"OTEL_EXPORTER_OTLP_PROTOCOL": "carrier-pigeon"},
    )
    problem = [l for l in proc.stderr.splitlines() if "OTEL_EXPORTER_OTLP_PROTOCOL" in l]
    assert len(problem) == 1 and "console logging uses the defaults" in problem[0], proc.stderr
    assert "still logging" in proc.stderr
    assert "init:" in proc.stdout and "OTEL_EXPORTER_OTLP_PROTOCOL" in proc.stdout
    assert "carrier-pigeon" in proc.stdout


def test_init_errors_and_life_cycle():
    proc = run_python(
        """
        from tasker_core import tracing
        try:
            tracing.init(otlp_protocol="carrier-pigeon")
        except tracing.TracingError as e:
            print("bad:", e)
        try:
            tracing.init(no_such_key=1)
        except tracing.TracingError as e:
            print("unknown:", e)
        assert not tracing.is_initialized()
        tracing.init(service_name="py-test", logging_format="json")
        assert tracing.is_initialized()
        try:
            tracing.init()
        except tracing.TracingError as e:
            print("again:", e)
        tracing.flush()
        tracing.shutdown()
        tracing.shutdown()
        assert not tracing.is_initialized()
        tracing.info("after shutdown")
        """
    )
    out = proc.stdout
    assert "bad:" in out and "telemetry.otlp.protocol" in out and "carrier-pigeon" in out
    assert "unknown:" in out and "no_such_key" in out
    assert "again:" in out and "tracing.init() was already called" in out
    assert any(l["message"] == "after shutdown" for l in json_lines(proc.stderr))


def test_flush_releases_the_gil():
    # A collector that accepts connections and never answers: flush waits for its timeout.
    proc = run_python(
        """
        import socket, threading, time
        from tasker_core import tracing
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        port = server.getsockname()[1]
        tracing.init(otlp_endpoint=f"http://127.0.0.1:{port}", otlp_timeout_ms=5000)
        with tracing.span("pending"):
            pass
        ticks = 0
        stop = False
        def spin():
            global ticks
            while not stop:
                ticks += 1
                time.sleep(0.001)
        t = threading.Thread(target=spin)
        t.start()
        time.sleep(0.05)
        before = ticks
        started = time.monotonic()
        try:
            tracing.flush(timeout=1.0)
        except tracing.TracingError as e:
            print("flush:", e)
        elapsed = time.monotonic() - started
        during = ticks - before
        stop = True
        t.join()
        print("elapsed", round(elapsed, 2), "ticks", during)
        assert elapsed >= 0.9, elapsed
        assert during > 100, during
        """,
        env={"OTEL_METRIC_EXPORT_INTERVAL": "600000"},
    )
    assert "flush:" in proc.stdout and "did not finish" in proc.stdout


EXPORT_SCRIPT = """
import asyncio, logging, os
from tasker_core import _native, tracing
from tasker_core._context import context

tracing.init(service_name="python-export-test", otlp_endpoint=os.environ["ENDPOINT"], otlp_protocol=os.environ["PROTOCOL"])
tracing.install_logging()

def handler():
    with tracing.span("py_in_rust", order_id=7):
        logging.getLogger("handler").info("inside rust")

async def task(name):
    with tracing.span(name):
        await asyncio.sleep(0.01)
        with tracing.span(name + "_child"):
            await asyncio.sleep(0.01)

async def both():
    await asyncio.gather(task("task_a"), task("task_b"))

with tracing.correlation(correlation_id="0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11", namespace="payments"):
    with tracing.span("py_root") as root:
        with tracing.span("py_child"):
            tracing.info("hello", n=1)
        _native._testing_rust_span("rust_mid", handler, None, *context())
        asyncio.run(both())
        headers = tracing.inject()
    tracing.counter("tasker_steps_claimed_total", namespace="payments")
    tracing.lifecycle("step.completed", duration_ms=12.5, labels={"namespace": "payments"}, step_name="charge")

import contextvars
def remote():
    with tracing.remote_context(headers):
        with tracing.span("py_remote"):
            pass
contextvars.Context().run(remote)
print("ROOT", root.trace_id, root.span_id)
# No flush: the atexit hook delivers what is buffered.
"""


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_export_to_a_real_collector(collector, protocol):
    endpoint = collector.grpc_endpoint if protocol == "grpc" else collector.http_endpoint
    proc = run_python(EXPORT_SCRIPT, env={"ENDPOINT": endpoint, "PROTOCOL": protocol})
    trace_id, root_id = proc.stdout.split("ROOT", 1)[1].split()
    names = ["py_root", "py_child", "rust_mid", "py_in_rust", "task_a", "task_b", "task_a_child", "task_b_child", "py_remote"]
    spans = collector.wait_for_spans(names)
    assert all(spans[n].trace_id == trace_id for n in names)
    assert spans["py_root"].span_id == root_id and spans["py_root"].parent_id == ""
    assert spans["py_child"].parent_id == root_id
    assert spans["rust_mid"].parent_id == root_id
    assert spans["py_in_rust"].parent_id == spans["rust_mid"].span_id
    for t in ("task_a", "task_b"):
        assert spans[t].parent_id == root_id
        assert spans[f"{t}_child"].parent_id == spans[t].span_id
    assert spans["py_remote"].parent_id == root_id
    assert spans["py_child"].attributes["correlation_id"] == "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11"
    assert spans["py_in_rust"].attributes["order_id"] == "7"
    assert spans["py_remote"].attributes["namespace"] == "payments"
    assert "python-export-test" in collector.output()
    assert "tasker_steps_claimed_total" in collector.output()
    assert "tasker_step_execution_duration" in collector.output()


FORK_SCRIPT = """
import os
from tasker_core import tracing

tracing.init(service_name="python-fork-test", otlp_endpoint=os.environ["ENDPOINT"], otlp_protocol=os.environ["PROTOCOL"])
with tracing.span("parent_before_fork"):
    pass
tracing.flush()
children = []
for i in range(2):
    pid = os.fork()
    if pid == 0:
        with tracing.span(f"child_{i}") as s:
            tracing.info("in child", i=i)
        tracing.flush()
        os._exit(0)
    children.append(pid)
for pid in children:
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
with tracing.span("parent_after_fork"):
    pass
tracing.flush()
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_forked_children_export_their_spans(collector, protocol):
    endpoint = collector.grpc_endpoint if protocol == "grpc" else collector.http_endpoint
    run_python(FORK_SCRIPT, env={"ENDPOINT": endpoint, "PROTOCOL": protocol})
    spans = collector.wait_for_spans(["parent_before_fork", "child_0", "child_1", "parent_after_fork"])
    assert spans["child_0"].trace_id != spans["child_1"].trace_id
    # Each fork child is a new service instance with its own pid.
    parent = spans["parent_before_fork"].resource
    assert spans["parent_after_fork"].resource["service.instance.id"] == parent["service.instance.id"]
    instances = {spans[n].resource["service.instance.id"] for n in ("parent_before_fork", "child_0", "child_1")}
    pids = {spans[n].resource["process.pid"] for n in ("parent_before_fork", "child_0", "child_1")}
    assert len(instances) == 3 and len(pids) == 3, (instances, pids)
