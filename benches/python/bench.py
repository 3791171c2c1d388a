"""Python side of the overhead report (run by scripts/bench.sh; see benches/README.md):
``tasker_core.tracing`` calls and their native baselines, measured in one process, in the same
rounds, against the core's benchmark pipeline (JSON lines to /dev/null, spans through a batch
processor to an exporter that discards, an SDK meter).

    python benches/python/bench.py [--smoke] [--out FILE]
    python benches/python/bench.py --count CASE N   (runs CASE N times once, for callgrind)

Method: each case is compiled into a ``for _ in repeat(None, n)`` loop (as ``timeit`` does). Its
batch size is calibrated to about BATCH_MS; then ROUNDS rounds run one batch of every case, in a
new random order each round (fixed seed), so that the machine's noise is spread over all cases
alike. A batch gives one ns/op sample (batch time / iterations, minus the empty loop's median
ns/op); median and p99 are taken over the samples. The garbage collector stays on. The handler
cases run in rounds of their own, after the others.

Needs ``opentelemetry-sdk`` (the baseline span), installed by scripts/bench.sh.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import os
import platform
import random
import re
import sys
import textwrap
import time
from datetime import datetime, timezone
from itertools import repeat
from typing import Any, Callable, Dict, List, Sequence, Tuple

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import opentelemetry.sdk
from tasker_core import _events, _native, tracing

SMOKE = "--smoke" in sys.argv
OUT = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else None
ROUNDS = 3 if SMOKE else int(os.environ.get("BENCH_ROUNDS", "250"))
COUNT = sys.argv[sys.argv.index("--count") + 1 :][:2] if "--count" in sys.argv else None
BATCH_MS = 0.2 if SMOKE else float(os.environ.get("BENCH_BATCH_MS", "2.0"))

# --- what is measured ------------------------------------------------------------------------


class SumHandler:
    """The trivial step handler whose framework overhead is measured."""

    def call(self, numbers: Sequence[int]) -> int:
        return sum(numbers)


HANDLER = SumHandler()
NUMBERS = list(range(1, 101))
STEP_CONTEXT = {
    "correlation_id": "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e0f",
    "task_uuid": "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e10",
    "step_uuid": "0190a8f0-7a2b-7c3d-8e4f-5a6b7c8d9e11",
    "namespace": "bench",
    "task_name": "sum_numbers",
    "step_name": "sum",
    "attempt": "1",
}


def noop() -> None:
    pass


def noop_args(message: str, **fields: Any) -> None:
    pass


_STD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "taskName"}


class JsonFormatter(logging.Formatter):
    """The same line as the core's (timestamp, level, target, message, fields), with json."""

    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in record.__dict__.items() if k not in _STD_ATTRS}
        return json.dumps(
            {
                "timestamp": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(
                    timespec="microseconds"
                ),
                "level": record.levelname,
                "target": record.name,
                "message": record.getMessage(),
                "fields": fields,
            }
        )


def _logger(name: str, handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


_null_handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - open for the run
_null_handler.setFormatter(JsonFormatter())
NATIVE_LOG = _logger("bench.native", _null_handler)
BRIDGE_LOG = _logger("bench.bridge", tracing.LoggingHandler())


class DiscardExporter(SpanExporter):
    """An exporter that drops every batch."""

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


OTEL_PROVIDER = TracerProvider()
OTEL_PROVIDER.add_span_processor(BatchSpanProcessor(DiscardExporter()))
OTEL_TRACER = OTEL_PROVIDER.get_tracer("bench")

# The OpenTelemetry API bridge (installed at import unless TASKER_OPENTELEMETRY_BRIDGE=off).
tracing.install_opentelemetry_bridge()
BRIDGE_TRACER = otel_trace.get_tracer("bench")
_BRIDGE_RUNTIME = otel_context._RUNTIME_CONTEXT
_API_RUNTIME = getattr(_BRIDGE_RUNTIME, "_previous", _BRIDGE_RUNTIME)


class ApiRuntime:
    """The OpenTelemetry API's own runtime context for the SDK baseline's batches: the SDK
    span is measured as an application without the bridge runs it (the bridge's context would
    convert each foreign SDK span into a remote parent for ``tracing.span``)."""

    def __enter__(self) -> None:
        otel_context._RUNTIME_CONTEXT = _API_RUNTIME

    def __exit__(self, *exc: Any) -> None:
        otel_context._RUNTIME_CONTEXT = _BRIDGE_RUNTIME


def framework_step(headers: Dict[str, str]) -> int:
    with tracing.remote_context(headers):
        with tracing.handler_span("SumHandler", STEP_CONTEXT):
            started = time.perf_counter()
            result = HANDLER.call(NUMBERS)
            ms = (time.perf_counter() - started) * 1000.0
            tracing.info("step completed", result=result)
            tracing.counter("tasker_steps_successes_total", 1, namespace="bench")
            tracing.histogram("tasker_step_execution_duration", ms, namespace="bench")
            return result


NATIVE = "native:"  # a statement that loops n times itself (one call per batch)
API_RUNTIME = "api-runtime:"  # a statement whose batches run with the API's own runtime context
FIELDS = 'order_id=42, namespace="payments", amount=12.5'
EXTRA = '{"order_id": 42, "namespace": "payments", "amount": 12.5}'
# (id, description, Python statement)
CASES: List[Tuple[str, str, str]] = [
    ("noop_function", "no-op Python function call (baseline)", "noop()"),
    (
        "noop_function_same_args",
        "no-op Python function, called with a message and 3 keywords (baseline)",
        f'noop_args("charged", {FIELDS})',
    ),
    ("ffi_noop", "no-op call into the extension (baseline: the physical FFI floor)", "_noop()"),
    (
        "rust_span_in_process",
        "the Rust side of a span: DynSpan start and end with 3 fields, looped in Rust (baseline)",
        NATIVE + "_native._bench_rust_spans(n)",
    ),
    (
        "logging_json",
        "stdlib logging, JSON formatter, 3 fields, to /dev/null (baseline)",
        f'NATIVE_LOG.info("charged", extra={EXTRA})',
    ),
    (
        "otel_sdk_span",
        "opentelemetry-sdk span, 3 attributes, BatchSpanProcessor to a discarding exporter (baseline)",
        API_RUNTIME + f'with OTEL_TRACER.start_as_current_span("charge_payment", attributes={EXTRA}):\n    pass',
    ),
    (
        "otel_bridge_span",
        "the same OpenTelemetry API call through the bridge: exported by the core",
        f'with BRIDGE_TRACER.start_as_current_span("charge_payment", attributes={EXTRA}):\n    pass',
    ),
    (
        "span_exported_3_fields",
        "with tracing.span(name, 3 fields): exported",
        f'with tracing.span("charge_payment", {FIELDS}):\n    pass',
    ),
    (
        "span_exported_no_fields",
        "with tracing.span(name): exported (diagnostic)",
        'with tracing.span("charge_payment"):\n    pass',
    ),
    ("info_json_3_fields", "info(msg, 3 fields) as a JSON line", f'tracing.info("charged", {FIELDS})'),
    ("debug_disabled", "debug(msg, 3 fields) below the level", f'tracing.debug("charged", {FIELDS})'),
    (
        "debug_disabled_guarded",
        "if tracing.enabled(\"debug\"): debug(...) below the level (guarded: no call built)",
        f'if tracing.enabled("debug"):\n    tracing.debug("charged", {FIELDS})',
    ),
    (
        "logging_bridge",
        "stdlib logging through tracing.LoggingHandler, 3 extra fields, as a JSON line",
        f'BRIDGE_LOG.info("charged", extra={EXTRA})',
    ),
    (
        "counter",
        "counter(name, 1, 1 label)",
        'tracing.counter("tasker_steps_claimed_total", 1, namespace="payments")',
    ),
    (
        "histogram",
        "histogram(name, value, 1 label)",
        'tracing.histogram("tasker_step_execution_duration", 12.5, namespace="payments")',
    ),
    ("handler_direct", "handler: sum of 100 numbers, called directly", "HANDLER.call(NUMBERS)"),
    (
        "handler_framework",
        "handler through the framework: remote context, handler_span (correlation), 1 log line, 1 counter, 1 histogram",
        "framework_step(HEADERS)",
    ),
    (
        "handler_run_step",
        "handler through the worker's per-step path, run_step (execute_step span, step.claimed/executing/completed events)",
        "tracing.run_step(STEP_MESSAGE, HANDLER_CALL)",
    ),
]

# --- measurement -----------------------------------------------------------------------------

Loop = Callable[[int], None]


def compile_loop(statement: str, namespace: Dict[str, Any]) -> Loop:
    if statement.startswith(NATIVE):
        source = f"def run(n):\n    {statement[len(NATIVE):]}\n"
    elif statement.startswith(API_RUNTIME):
        body = textwrap.indent(statement[len(API_RUNTIME):], " " * 12)
        source = f"def run(n):\n    with _ApiRuntime():\n        for _ in _repeat(None, n):\n{body}\n"
    else:
        body = textwrap.indent(statement, " " * 8)
        source = f"def run(n):\n    for _ in _repeat(None, n):\n{body}\n"
    exec(compile(source, "<bench>", "exec"), namespace)  # noqa: S102 - the statements above
    return namespace.pop("run")


def time_batch(loop: Loop, n: int) -> int:
    t0 = time.perf_counter_ns()
    loop(n)
    return time.perf_counter_ns() - t0


def calibrate(loop: Loop) -> int:
    """Iterations for a batch of about BATCH_MS."""
    target = BATCH_MS * 1_000_000
    n = 1
    while True:
        t = time_batch(loop, n)
        if t >= target / 10:
            return max(1, int(n * target / max(t, 1)))
        n *= 10


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(round(q * (len(ordered) - 1)), len(ordered) - 1)]


def run(cases: List[Tuple[str, str, str]], namespace: Dict[str, Any]) -> Tuple[List[Dict[str, Any]], float]:
    # Cases whose helper this build of the package lacks (an older build) are left out.
    cases = [c for c in cases if "_bench_rust_spans" not in c[2] or hasattr(_native, "_bench_rust_spans")]
    only = os.environ.get("BENCH_ONLY")  # a regexp of case ids, to investigate a few cases alone
    if only:
        cases = [c for c in cases if re.search(only, c[0])]
    empty = compile_loop("pass", dict(namespace))
    loops = [compile_loop(stmt, dict(namespace)) for _, _, stmt in cases]
    sizes = [calibrate(loop) for loop in loops]
    empty_n = calibrate(empty)
    samples: List[List[float]] = [[] for _ in cases]
    empty_samples: List[float] = []
    rng = random.Random(7)  # a fixed seed: the same orders every run
    order = list(range(len(cases)))
    for _ in range(ROUNDS):
        empty_samples.append(time_batch(empty, empty_n) / empty_n)
        # A new order every round: no case always follows the same one (e.g. the span cases,
        # whose spans the exporter thread is still draining while the next batch runs).
        rng.shuffle(order)
        for i in order:
            samples[i].append(time_batch(loops[i], sizes[i]) / sizes[i])
    overhead = percentile(empty_samples, 0.5)
    results = []
    for (case_id, description, statement), raw, size in zip(cases, samples, sizes):
        values = raw if statement.startswith(NATIVE) else [v - overhead for v in raw]
        results.append(
            {
                "id": case_id,
                "description": description,
                "code": statement.replace(NATIVE, "").replace(API_RUNTIME, ""),
                "median_ns": round(percentile(values, 0.5), 1),
                "p99_ns": round(percentile(values, 0.99), 1),
                "mean_ns": round(sum(values) / len(values), 1),
                "samples": len(values),
                "iterations_per_sample": size,
            }
        )
    return results, overhead


def setup() -> Dict[str, Any]:
    """Checks the paths once and returns the namespace the cases' statements run in."""
    _events.refresh_max_level()
    with tracing.correlation(namespace="bench"):
        with tracing.span("orchestrator_step"):
            headers = tracing.inject()
    assert framework_step(headers) == 5050
    message = dict(STEP_CONTEXT, step_name="sum", handler="SumHandler", attempt=1, headers=headers)
    handler_call = functools.partial(HANDLER.call, NUMBERS)
    assert tracing.run_step(message, handler_call) == 5050
    assert not tracing.enabled("debug"), "debug is enabled: the disabled-level case would log"
    namespace = dict(globals())
    namespace.update(
        HEADERS=headers,
        STEP_MESSAGE=message,
        HANDLER_CALL=handler_call,
        _noop=_native._noop,
        _repeat=repeat,
        _ApiRuntime=ApiRuntime,
    )
    return namespace


def main() -> None:
    pipeline = _native._BenchPipeline()

    def measure() -> Tuple[List[Dict[str, Any]], float]:
        namespace = setup()
        # The handler cases run in rounds of their own, after a full collection (as in the Ruby harness).
        ops = [c for c in CASES if not c[0].startswith("handler_")]
        steps = [c for c in CASES if c[0].startswith("handler_")]
        op_results, loop_overhead = run(ops, namespace)
        gc.collect()
        step_results, _ = run(steps, namespace)
        return op_results + step_results, loop_overhead

    if COUNT:
        # Instruction counts (scripts/callgrind.sh): the same set-up, then one case N times, and
        # a flush so that the exporter thread's share is in the count.
        def count() -> None:
            case = next(c for c in CASES if c[0] == COUNT[0])
            compile_loop(case[2], setup())(int(COUNT[1]))

        pipeline.run(count)
        pipeline.flush()
        OTEL_PROVIDER.force_flush()
        OTEL_PROVIDER.shutdown()
        return

    results, overhead = pipeline.run(measure)
    report = {
        "language": "python",
        "version": f"{platform.python_implementation()} {platform.python_version()}",
        "opentelemetry_sdk": opentelemetry.sdk.version.__version__,
        "smoke": SMOKE,
        "rounds": ROUNDS,
        "batch_ms": BATCH_MS,
        "loop_overhead_ns": round(overhead, 2),
        "cases": results,
    }
    text = json.dumps(report, indent=2)
    if OUT:
        with open(OUT, "w") as f:
            f.write(text)
    else:
        print(text)
    for r in results:
        sys.stderr.write(f"python {r['id']:<26} median {r['median_ns']:10.1f} ns  p99 {r['p99_ns']:10.1f} ns\n")
    OTEL_PROVIDER.shutdown()


if __name__ == "__main__":
    main()
