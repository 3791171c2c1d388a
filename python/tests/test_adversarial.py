"""Regression tests for the defects adversarial testing found (issue "No crash, no hang, no
leak"): each reproduction, made into an assertion."""

from __future__ import annotations

import pytest

from tasker_core import tracing

from conftest import run_python


class _Raises:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def __str__(self) -> str:
        raise self.exc


@pytest.mark.parametrize("exc", [KeyboardInterrupt(), SystemExit(3)])
def test_keyboard_interrupt_and_system_exit_from_str_propagate(capture, exc):
    # Before: Ctrl-C during a log call became "<unprintable _Raises>" and was lost.
    def run() -> None:
        with pytest.raises(type(exc)):
            tracing.info("interrupted", value=_Raises(exc))
        with pytest.raises(type(exc)):
            with tracing.span("interrupted span", value=_Raises(exc)):
                pytest.fail("the body ran")
        with tracing.span("outer") as span:
            with pytest.raises(type(exc)):
                span.set("value", _Raises(exc))
            with pytest.raises(type(exc)):
                tracing.info("nested", items=[1, {"k": _Raises(exc)}])

    capture.run(run)
    assert capture.span("outer")["attributes"].get("value") is None


def test_ordinary_exceptions_from_str_still_become_the_marker(capture):
    capture.run(lambda: tracing.info("odd", value=_Raises(ValueError("no text"))))
    line = next(l for l in capture.json_lines() if l.get("message") == "odd")
    assert line["fields"]["value"] == "<unprintable _Raises>"


class _InterruptingSet(set):
    """A set whose iteration raises after its first item."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__([1])
        self.exc = exc

    def __iter__(self):
        yield 1
        raise self.exc


def test_an_interrupt_inside_an_iterable_field_propagates(capture):
    def run() -> None:
        with pytest.raises(KeyboardInterrupt):
            tracing.info("iter", items=_InterruptingSet(KeyboardInterrupt()))

    capture.run(run)


def test_a_lone_surrogate_becomes_one_replacement_character(capture):
    # Before: "\ud800" became three U+FFFD (its surrogatepass bytes replaced one by one).
    def run() -> None:
        with tracing.span("name\ud800x", key="a\udc80b\ud83d") as span:
            span.set("k\udfff", "v")

    capture.run(run)
    span = capture.span("name\ufffdx")
    assert span["attributes"]["key"] == "a\ufffdb\ufffd"
    assert span["attributes"]["k\ufffd"] == "v"


# --- Data lost silently: multiprocessing children ------------------------------------------

MULTIPROCESSING = """
import multiprocessing as mp
from tasker_core import tracing

tracing.init(service_name="mp-test")

def work(i):
    with tracing.span("mp_child_span", i=i):
        tracing.info("in child", i=i)
    return i

if __name__ == "__main__":
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=work, args=(i,)) for i in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    with ctx.Pool(2) as pool:
        assert pool.map(work, range(100, 104)) == list(range(100, 104))
        pool.close()
        pool.join()
    print("codes", [p.exitcode for p in procs])
"""


def test_spans_of_forked_multiprocessing_children_arrive(collector, tmp_path):
    # Before: multiprocessing children end through os._exit, the exit flush never ran and
    # every span was lost without a count.
    script = tmp_path / "mp_script.py"
    script.write_text(MULTIPROCESSING)
    proc = run_python(
        f"import runpy; runpy.run_path({str(script)!r}, run_name='__main__')",
        {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.http_endpoint, "OTEL_BSP_SCHEDULE_DELAY": "60000"},
    )
    assert "codes [0, 0, 0]" in proc.stdout, proc.stderr
    assert collector.wait_for_span_count(7, timeout=30) == 7
    assert sorted(s.name for s in collector.spans()) == ["mp_child_span"] * 7


# --- Hangs: fork and flush with a hung collector ---------------------------------------------

HUNG = """
import os, signal, sys, threading, time
sys.path.insert(0, {tests!r})
from harness.hung import HungServer
from tasker_core import tracing

server = HungServer()
tracing.init(service_name="hung", otlp_endpoint=server.endpoint, otlp_timeout_ms=60_000,
             otlp_shutdown_timeout_ms=1000, metrics_enabled=False)
for i in range(20):
    with tracing.span("queued", i=i):
        pass
"""


def _tests_dir() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[2] / "tests")


def test_fork_does_not_wait_for_a_hung_collector():
    # Before: before_fork flushed for up to 1 s with the collector hung.
    code = HUNG.format(tests=_tests_dir()) + """
took = []
for _ in range(5):
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    took.append(time.monotonic() - started)
    os.waitpid(pid, 0)
print("FORK_MS", round(max(took) * 1000, 1))
os._exit(0)
"""
    proc = run_python(code)
    fork_ms = float(proc.stdout.split("FORK_MS")[1])
    assert fork_ms < 500, proc.stdout


def test_flush_is_interrupted_by_ctrl_c():
    # Before: SIGINT during flush(20) was handled only when the flush returned, 20 s later.
    code = HUNG.format(tests=_tests_dir()) + """
# Python's default Ctrl-C handling, even when started with SIGINT ignored (a background job).
signal.signal(signal.SIGINT, signal.default_int_handler)
threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
started = time.monotonic()
try:
    tracing.flush(20)
    print("NOT INTERRUPTED")
except KeyboardInterrupt:
    print("INTERRUPTED_AFTER_MS", round((time.monotonic() - started - 0.3) * 1000, 1))
os._exit(0)
"""
    proc = run_python(code, timeout=60)
    assert "INTERRUPTED_AFTER_MS" in proc.stdout, proc.stdout + proc.stderr
    assert float(proc.stdout.split("INTERRUPTED_AFTER_MS")[1]) < 2000, proc.stdout


# --- Secrets, forged lines, baggage (the core's rules, seen from Python) ---------------------


def test_secrets_in_messages_and_exception_messages_are_scrubbed(capture):
    def run() -> None:
        tracing.warning("login failed password=hunter2 for ann", **{"x-api-key": "k-123", "url": "https://u:pw-1@db/x?token=t-9"})
        with pytest.raises(ValueError):
            with tracing.span("scrubbed"):
                raise ValueError("connect failed: api_key=k-456")

    capture.run(run)
    text = "\n".join(capture.lines()) + repr(capture.spans())
    for secret in ("hunter2", "k-123", "pw-1", "t-9", "k-456"):
        assert secret not in text, (secret, text[-2000:])
    assert "password=[REDACTED]" in text


def test_the_collector_url_is_printed_without_its_credentials():
    # Before: the drop warning printed the endpoint with its password and ?api_key=.
    proc = run_python(
        """
from tasker_core import tracing
with tracing.span("lost"):
    pass
try:
    tracing.flush(3)
except tracing.TracingError as e:
    print(e)
""",
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://user:pw-secret@127.0.0.1:1/?api_key=k-secret",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "500",
            "TASKER_LOG_LEVEL": "debug",
        },
    )
    out = proc.stdout + proc.stderr
    assert "127.0.0.1:1" in out, out[-2000:]
    assert "pw-secret" not in out and "k-secret" not in out, out[-2000:]


def test_pretty_and_compact_lines_cannot_be_forged(capture_factory):
    for fmt in ("pretty", "compact"):
        capture = capture_factory(("logging.format", fmt))

        def run() -> None:
            with tracing.span("span\nFAKE"):
                tracing.warning("ok\nFAKE ERROR line \x1b]0;pwned\x07", **{"k\ney": "v\r\nx"})

        capture.run(run)
        lines = [l for l in capture.lines() if "FAKE ERROR" in l]
        assert len(lines) == 1, capture.lines()
        assert not any(ord(c) < 0x20 or c == "\x7f" for c in lines[0]), repr(lines[0])
        assert "ok\\nFAKE ERROR line" in lines[0], lines[0]


CID = "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0c42"


def test_oversized_baggage_keeps_its_first_entries_and_inject_forwards_upstream_entries(capture):
    # Before: a baggage header over 8192 bytes was dropped whole (correlation id included), and
    # inject() dropped upstream entries such as tenant=acme.
    headers = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "baggage": f"correlation_id={CID},tenant=acme,big={'x' * 9000}",
    }
    seen = {}

    def handler() -> None:
        seen["cid"] = tracing.current_correlation_id()
        seen["headers"] = tracing.inject()

    capture.run(lambda: tracing.run_step({"step_name": "baggage", "headers": headers}, handler))
    assert seen["cid"] == CID
    baggage = seen["headers"]["baggage"]
    assert "tenant=acme" in baggage and f"correlation_id={CID}" in baggage, baggage
    assert "big=" not in baggage and len(baggage) <= 8192


# --- Found in review -------------------------------------------------------------------------


def test_a_step_message_with_many_keys_keeps_its_step_name_and_headers(capture):
    # The attribute count limit must not crowd step_name or headers out of a step message.
    message = {f"input_{i}": i for i in range(300)}
    message.update(step_name="crowded", headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    capture.run(lambda: tracing.run_step(message, lambda: None))
    span = capture.span("execute_step")
    assert span["attributes"]["step_name"] == "crowded"
    assert span["trace_id"] == "0af7651916cd43dd8448eb211c80319c"


class _AlwaysRaising(list):
    """A list whose iterator raises on every next()."""

    def __iter__(self):
        return self

    def __next__(self):
        raise ValueError("broken iterator")


class _Mutating:
    def __init__(self, target: dict) -> None:
        self.target = target

    def __str__(self) -> str:
        for i in range(50):
            self.target[f"added_{i}"] = i
        return "mutated"


def test_odd_containers_neither_hang_nor_panic(capture):
    def run() -> None:
        tracing.info("iterator", items=_AlwaysRaising())
        payload: dict = {}
        payload["m"] = _Mutating(payload)
        tracing.info("mutating", payload=payload)
        kwargs: dict = {}
        kwargs["m"] = _Mutating(kwargs)
        tracing.info("mutating kwargs", **kwargs)

    capture.run(run)
    lines = {l["message"]: l for l in capture.json_lines() if "message" in l}
    assert lines["iterator"]["fields"]["items"] == "[null]"
    assert lines["mutating"]["fields"]["payload.m"] == "mutated"


@pytest.mark.parametrize("kind", ["dev_zero", "fifo"])
def test_a_config_path_that_is_not_a_regular_file_is_refused_at_once(tmp_path, kind):
    # Before: TASKER_CONFIG=/dev/zero read gigabytes, a FIFO hung the import.
    import os

    path = "/dev/zero"
    if kind == "fifo":
        path = str(tmp_path / "config.fifo")
        os.mkfifo(path)
    proc = run_python("from tasker_core import tracing\nprint('imported')", {"TASKER_CONFIG": path}, timeout=20)
    assert "imported" in proc.stdout
    assert path in proc.stderr and "not a regular file" in proc.stderr, proc.stderr
