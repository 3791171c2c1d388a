"""Reliability probe for the Python package: ``python probe.py SCENARIO``. Settings come from the
environment (``ENDPOINT``, ``PROTOCOL`` and the scenario's own); figures are printed as
``FIGURES {json}`` lines, control points as single words (``DOWN_DONE``, ``READY``) on stdout.
The Ruby probe (probe.rb) runs the same scenarios the same way."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import threading
import time
from typing import Any, Dict, List

from tasker_core import tracing

ENV = os.environ


def figures(**values: Any) -> None:
    print("FIGURES " + json.dumps(values), flush=True)


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def init(**overrides: Any) -> None:
    tracing.init(
        service_name=ENV.get("SERVICE", "python-probe"),
        otlp_endpoint=ENV["ENDPOINT"],
        otlp_protocol=ENV.get("PROTOCOL", "http/protobuf"),
        **overrides,
    )


def record(name: str, n: int, metric_every: int = 100) -> float:
    """``n`` spans named ``name`` with one event each (and a counter every ``metric_every``);
    returns nanoseconds per span."""
    started = time.perf_counter_ns()
    for i in range(n):
        with tracing.span(name, i=i):
            tracing.info("work", i=i)
        if i % metric_every == 0:
            tracing.counter("tasker_steps_claimed_total")
    return (time.perf_counter_ns() - started) / n


def wait_until(predicate, timeout: float) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"timed out after {timeout}s; stats {tracing.stats()}")
        time.sleep(0.02)
    return time.monotonic() - started


def down_up() -> None:
    queue, n_down, n_up, chunk = (int(ENV[k]) for k in ("QUEUE", "N_DOWN", "N_UP", "CHUNK"))
    init(
        otlp_max_queue_size=queue,
        otlp_batch_size=256,
        otlp_scheduled_delay_ms=50,
        otlp_timeout_ms=1000,
        otlp_drop_warning_interval_ms=500,
        metrics_export_interval_ms=200,
        logging_export_logs=True,
        logging_format="json",
        logging_level="warn",
    )
    record("warmup", 500)
    rss_before = rss_kib()
    down_ns = record("down", n_down)
    rss_after = rss_kib()
    failed_after = wait_until(lambda: tracing.stats()["spans_dropped"] > 0 and tracing.stats()["metrics_dropped"] > 0, 30)
    down = tracing.stats()
    print("DOWN_DONE", flush=True)
    sys.stdin.readline()  # the collector is up now

    def flushed() -> bool:
        try:
            tracing.flush(5)
            return True
        except tracing.TracingError:
            return False

    resumed = wait_until(flushed, 30)
    up_ns = 0.0
    for _ in range(n_up // chunk):
        up_ns += record("up", chunk) * chunk / n_up
        tracing.flush(10)
    tracing.flush(10)
    figures(
        stats=tracing.stats(),
        down_stats=down,
        ns_per_span_down=round(down_ns),
        ns_per_span_up=round(up_ns),
        rss_kib_before=rss_before,
        rss_kib_after_down=rss_after,
        first_failure_after_s=round(failed_after, 2),
        resumed_after_s=round(resumed, 2),
        sent=500 + n_down + n_up,
    )


def hung() -> None:
    init(otlp_timeout_ms=500, otlp_shutdown_timeout_ms=1000, otlp_scheduled_delay_ms=3_600_000, metrics_enabled=False)

    def spans(n: int) -> None:
        for i in range(n):
            with tracing.span("hung", i=i):
                pass

    spans(10)
    started = time.monotonic()
    try:
        tracing.flush(0.2)
        short_error = ""
    except tracing.TracingError as e:
        short_error = str(e)
    short_flush = time.monotonic() - started
    gave_up = wait_until(lambda: tracing.stats()["spans_dropped"] == 10, 10) + short_flush
    spans(10)
    started = time.monotonic()
    try:
        tracing.flush(5)
        long_error = ""
    except tracing.TracingError as e:
        long_error = str(e)
    long_flush = time.monotonic() - started
    spans(10)
    figures(
        short_flush_s=round(short_flush, 3),
        short_error=short_error,
        export_gave_up_s=round(gave_up, 3),
        long_flush_s=round(long_flush, 3),
        long_error=long_error,
        stats=tracing.stats(),
    )
    print(f"EXIT_AT {time.time() * 1000:.0f}", flush=True)


def exit_paths() -> None:
    n = int(ENV["N"])
    # One batch at exit: nothing is sent before the process ends.
    init(otlp_max_queue_size=n * 2, otlp_batch_size=n * 2)
    mode = ENV["EXIT_MODE"]
    if mode == "sigterm":
        # What a worker should do: turn SIGTERM into a normal exit so that atexit runs.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    for i in range(n):
        with tracing.span("before_exit", i=i):
            tracing.info("work", i=i)
    assert tracing.stats()["spans_exported"] == 0
    if mode == "exit":
        sys.exit(3)
    if mode == "raise":
        raise RuntimeError("the script fails")
    if mode == "sigterm":
        print("READY", flush=True)
        time.sleep(60)
        raise SystemExit("SIGTERM never came")


def fork() -> None:
    n = int(ENV["N"])
    init(otlp_max_queue_size=n * 8, otlp_scheduled_delay_ms=100)
    for i in range(n):
        with tracing.span("parent_before", i=i):
            pass
    tracing.flush(10)
    children = []
    for c in range(4):
        pid = os.fork()
        if pid == 0:
            for i in range(n):
                with tracing.span(f"child_{c}", i=i):
                    tracing.info("in child", i=i)
            tracing.flush(10)
            print("FIGURES " + json.dumps({"child": c, "stats": tracing.stats()}), flush=True)
            os._exit(0)
        children.append(pid)
        with tracing.span("parent_between", c=c):
            pass
    for i in range(n):
        with tracing.span("parent_after", i=i):
            pass
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    tracing.flush(10)
    figures(children_exit_codes=codes, stats=tracing.stats())


def threads() -> None:
    n_threads, n = int(ENV["THREADS"]), int(ENV["N"])
    init(otlp_max_queue_size=n_threads * (n + 1) + 1000, otlp_batch_size=4096, otlp_scheduled_delay_ms=200)
    errors: List[str] = []

    def worker(t: int) -> None:
        try:
            with tracing.span("thread_root", thread=t):
                for i in range(n):
                    with tracing.span("work", thread=t, i=i):
                        tracing.info("step", thread=t, i=i)
        except Exception as e:  # pragma: no cover - reported in the figures
            errors.append(repr(e))

    started = time.monotonic()
    pool = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    elapsed = time.monotonic() - started
    tracing.flush(60)
    figures(sent=n_threads * (n + 1), seconds=round(elapsed, 2), errors=errors, stats=tracing.stats())


def asyncio_tasks() -> None:
    tasks = int(ENV["TASKS"])
    init(otlp_max_queue_size=tasks * 3 + 1000, otlp_batch_size=4096, otlp_scheduled_delay_ms=200)

    async def task(t: int) -> None:
        with tracing.span("task", t=t):
            await asyncio.sleep(0)
            with tracing.span("step", t=t):
                await asyncio.sleep(0.001)
                with tracing.span("leaf", t=t):
                    await asyncio.sleep(0)
                    tracing.info("leaf work", t=t)

    async def main() -> None:
        await asyncio.gather(*(task(t) for t in range(tasks)))

    started = time.monotonic()
    asyncio.run(main())
    elapsed = time.monotonic() - started
    tracing.flush(60)
    figures(sent=tasks * 3, seconds=round(elapsed, 2), stats=tracing.stats())


def soak() -> None:
    total, every = int(ENV["N"]), int(ENV["SAMPLE_EVERY"])
    init(otlp_max_queue_size=65536, otlp_batch_size=4096, otlp_scheduled_delay_ms=200, metrics_export_interval_ms=1000)
    names = [f"soak_{k}" for k in range(20)]
    samples = [rss_kib()]
    started = time.monotonic()
    for i in range(total):
        with tracing.span(names[i % 20], i=i, order=f"order-{i}", attempt=i % 3) as s:
            tracing.info("soak step", i=i)
            s.set("result", "ok")
        if i % 1000 == 0:
            tracing.counter("tasker_steps_claimed_total", namespace="soak")
        if (i + 1) % every == 0:
            tracing.flush(120)  # sample what is retained, not what waits in the export queue
            samples.append(rss_kib())
    elapsed = time.monotonic() - started
    tracing.flush(120)
    figures(sent=total, seconds=round(elapsed, 1), rss_kib_samples=samples, stats=tracing.stats())


def redaction() -> None:
    init(logging_export_logs=True, logging_format="json", metrics_export_interval_ms=200)
    tracing.install_logging(logger="probe")
    log = logging.getLogger("probe")
    log.propagate = False
    with tracing.span(
        "redaction",
        password="SECRET-span-field",
        user={"name": "ann", "api_key": "SECRET-nested-map"},
        users=[{"name": "bob", "token": "SECRET-list-of-maps"}],
        deep={"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"secret": "SECRET-deep"}}}}}}}}}},
    ) as s:
        s.set("authorization", "SECRET-span-set")
        s.add_event("login", cookie="SECRET-span-event")
        tracing.info("event", credit_card="SECRET-log-event")
        log.warning("stdlib", extra={"private_key": "SECRET-logging-extra"})
        tracing.lifecycle("step.completed", duration_ms=1.0, labels={"api_token": "SECRET-lifecycle-label"}, passwd="SECRET-lifecycle-field")
        tracing.counter("tasker_steps_claimed_total", session_token="SECRET-metric-label")
        try:
            raise ValueError("SECRET-EXCEPTION-MESSAGE is not scrubbed")
        except ValueError as e:
            s.record_exception(e)
    with tracing.handler_span("Handler", {"step_name": "s", "ssn": "SECRET-handler-context"}):
        pass
    tracing.flush(10)
    time.sleep(0.5)  # one more metric export
    tracing.flush(10)


def headers() -> None:
    try:
        init(otlp_headers={"x-api-key": "SECRET-\n-not-a-header"})
    except tracing.TracingError as e:
        print("bad header:", e)
    init(logging_export_logs=True)
    with tracing.span("with_auth_header"):
        tracing.info("sent with the header")
    tracing.flush(10)


def fork_hung() -> None:
    """Forks with a hung collector and 200 spans queued: how long each fork takes, and the
    longest gap of a 10 ms ticker thread meanwhile."""
    init(otlp_timeout_ms=60_000, otlp_shutdown_timeout_ms=1000, metrics_enabled=False)
    for i in range(200):
        with tracing.span("queued", i=i):
            pass
    gaps: List[float] = []
    stop = threading.Event()

    def tick() -> None:
        last = time.monotonic()
        while not stop.wait(0.01):
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    time.sleep(0.1)
    took = []
    for _ in range(int(ENV.get("FORKS", "10"))):
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            with tracing.span("in_child"):
                pass
            os._exit(0)
        took.append(time.monotonic() - started)
        os.waitpid(pid, 0)
    time.sleep(0.05)
    stop.set()
    ticker.join()
    took.sort()
    figures(
        forks=len(took),
        fork_ms_median=round(took[len(took) // 2] * 1000, 2),
        fork_ms_max=round(took[-1] * 1000, 2),
        ticker_max_gap_ms=round(max(gaps) * 1000, 1),
    )
    os._exit(0)


def flush_interrupt() -> None:
    """``flush(20)`` with a hung collector, interrupted by Ctrl-C (SIGINT) after 0.3 s: how long
    after the signal ``KeyboardInterrupt`` arrives."""
    init(otlp_timeout_ms=60_000, otlp_shutdown_timeout_ms=1000, metrics_enabled=False)
    for i in range(20):
        with tracing.span("queued", i=i):
            pass
    # Python's default Ctrl-C handling, even when started with SIGINT ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Timer(0.3, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    started = time.monotonic()
    try:
        tracing.flush(20)
        figures(interrupted=False)
    except KeyboardInterrupt:
        figures(interrupted=True, signal_to_exception_ms=round((time.monotonic() - started - 0.3) * 1000, 1))
    os._exit(0)


def many_fields() -> None:
    """One exported span with ``N`` distinct attributes: how long the call takes (the limit keeps
    the first ``OTEL_ATTRIBUTE_COUNT_LIMIT``, the rest are counted)."""
    n = int(ENV["N"])
    init(metrics_enabled=False)
    fields = {f"field_{i}": i for i in range(n)}
    started = time.monotonic()
    with tracing.span("wide", **fields):
        pass
    seconds = time.monotonic() - started
    tracing.flush(10)
    figures(fields=n, seconds=round(seconds, 3), stats=tracing.stats())


def many_names() -> None:
    """``N`` distinct metric names (``KIND=metric``) or ``N`` distinct span shapes (each span with
    a key of its own, ``KIND=shape``): resident memory before and after."""
    n, kind = int(ENV["N"]), ENV["KIND"]
    init(metrics_export_interval_ms=200)
    for i in range(1000):  # warm up what every call uses
        tracing.counter("warmup_total")
        with tracing.span("warmup", k=i):
            pass
    before = rss_kib()
    started = time.monotonic()
    for i in range(n):
        if kind == "metric":
            tracing.counter(f"distinct_metric_{i}_total")
        else:
            with tracing.span("shape", **{f"id_{i}": i}):
                pass
    seconds = time.monotonic() - started
    tracing.flush(10)
    after = rss_kib()
    figures(names=n, kind=kind, rss_kib_before=before, rss_kib_after=after, growth_mib=round((after - before) / 1024, 1), seconds=round(seconds, 2), stats=tracing.stats())


SCENARIOS = {
    "down_up": down_up,
    "hung": hung,
    "exit": exit_paths,
    "fork": fork,
    "threads": threads,
    "asyncio": asyncio_tasks,
    "soak": soak,
    "redaction": redaction,
    "headers": headers,
    "fork_hung": fork_hung,
    "flush_interrupt": flush_interrupt,
    "many_fields": many_fields,
    "many_names": many_names,
}

if __name__ == "__main__":
    SCENARIOS[sys.argv[1]]()
