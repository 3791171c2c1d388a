"""Bad input from Python: every public function called with wrong types, None, NaN, huge and
binary strings, lone surrogates, unprintable objects, cyclic and deeply nested structures and
non-string keys either works (the documented conversion) or raises ``TracingError`` with a
message; nothing else escapes, nothing crashes the interpreter, and the surrounding span is
never lost. Prints a ``FIGURES`` line with the counts."""

from __future__ import annotations

import collections.abc
import json
import logging
import os
from typing import Any, Callable, Dict, List, Tuple

import pytest

from conftest import run_python
from tasker_core import tracing


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    __repr__ = __str__


class BadNumber:
    def __float__(self) -> float:
        raise RuntimeError("no float for you")


class BrokenMapping(collections.abc.Mapping):
    def __getitem__(self, key: Any) -> Any:
        raise RuntimeError("broken mapping")

    def __iter__(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("broken mapping")

    def __len__(self) -> int:
        return 1


def _bad_values() -> List[Tuple[str, Any]]:
    cyclic_dict: Dict[str, Any] = {"a": 1}
    cyclic_dict["self"] = cyclic_dict
    cyclic_list: List[Any] = [1]
    cyclic_list.append(cyclic_list)
    deep: List[Any] = []
    cur = deep
    for _ in range(5000):
        nxt: List[Any] = []
        cur.append(nxt)
        cur = nxt
    return [
        ("None", None),
        ("int", 42),
        ("negative", -1),
        ("float", 3.5),
        ("nan", float("nan")),
        ("inf", float("inf")),
        ("bool", True),
        ("bigint", 2**200),
        ("bytes", b"\xff\xfe binary"),
        ("surrogate", "lone \ud800 surrogate"),
        ("10MB", "x" * (10 * 1024 * 1024)),
        ("object", object()),
        ("unprintable", Unprintable()),
        ("bad_number", BadNumber()),
        ("cyclic_dict", cyclic_dict),
        ("cyclic_list", cyclic_list),
        ("deep", deep),
        ("odd_keys", {1: 2, (1, 2): 3, None: 4, Unprintable(): 5}),
        ("set", {"x"}),
        ("broken_mapping", BrokenMapping()),
        ("type", str),
    ]


BAD = _bad_values()


def record_figures(figures: Dict[str, Any]) -> None:
    """Prints a FIGURES line; appends it to $TASKER_FIGURES_FILE (scripts/reliability.sh)."""
    line = json.dumps(figures)
    print("FIGURES " + line)
    path = os.environ.get("TASKER_FIGURES_FILE")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def _calls(span: "tracing.Span") -> List[Tuple[str, Callable[[Any], Any]]]:
    """Every public entry point, with the bad value in each argument position."""

    def in_span(**kw: Any) -> Callable[[Any], Any]:
        def call(b: Any) -> None:
            with tracing.span(**{k: (b if v is None else v) for k, v in kw.items()}):
                pass

        return call

    def use_remote(b: Any) -> None:
        with tracing.remote_context(b):
            tracing.info("in remote")

    def use_handler(name: Any, ctx: Any) -> None:
        with tracing.handler_span(name, ctx):
            pass

    def use_correlation(**kw: Any) -> None:
        with tracing.correlation(**kw):
            pass

    def instrumented(**kw: Any) -> Any:
        @tracing.instrument(**kw)
        def f() -> int:
            return 1

        return f()

    return [
        ("span(name)", lambda b: in_span(name=None)(b)),
        ("span(level)", lambda b: in_span(name="s", level=None)(b)),
        ("span(field)", lambda b: in_span(name="s", field=None)(b)),
        ("event(level)", lambda b: tracing.event(b, "m")),
        ("event(message)", lambda b: tracing.event("info", b)),
        ("info(message)", lambda b: tracing.info(b)),
        ("info(field)", lambda b: tracing.info("m", field=b)),
        ("warning(message)", lambda b: tracing.warning(b, f=b)),
        ("error(message)", lambda b: tracing.error(b, f=b)),
        ("critical(message)", lambda b: tracing.critical(b)),
        ("debug(message)", lambda b: tracing.debug(b)),
        ("enabled(level)", lambda b: tracing.enabled(b)),
        ("instrument(func)", lambda b: tracing.instrument(b)),
        ("instrument(name)", lambda b: instrumented(name=b)),
        ("instrument(level)", lambda b: instrumented(level=b)),
        ("correlation(correlation_id)", lambda b: use_correlation(correlation_id=b)),
        ("correlation(task_uuid)", lambda b: use_correlation(task_uuid=b)),
        ("correlation(namespace)", lambda b: use_correlation(namespace=b)),
        ("remote_context(headers)", use_remote),
        ("remote_context(value)", lambda b: use_remote({"traceparent": b, "baggage": b})),
        ("handler_span(name)", lambda b: use_handler(b, {})),
        ("handler_span(context)", lambda b: use_handler("h", b)),
        ("handler_span(context value)", lambda b: use_handler("h", {"correlation_id": b, "attempt": b})),
        ("counter(name)", lambda b: tracing.counter(b)),
        ("counter(value)", lambda b: tracing.counter("c_bad_input", b)),
        ("counter(label)", lambda b: tracing.counter("c_bad_input", 1, label=b)),
        ("up_down_counter(value)", lambda b: tracing.up_down_counter("u_bad_input", b)),
        ("histogram(value)", lambda b: tracing.histogram("h_bad_input", b)),
        ("gauge(value)", lambda b: tracing.gauge("g_bad_input", b)),
        ("lifecycle(name)", lambda b: tracing.lifecycle(b)),
        ("lifecycle(duration_ms)", lambda b: tracing.lifecycle("step.completed", duration_ms=b)),
        ("lifecycle(labels)", lambda b: tracing.lifecycle("step.completed", labels=b)),
        ("lifecycle(field)", lambda b: tracing.lifecycle("step.completed", field=b)),
        ("flush(timeout)", lambda b: tracing.flush(b)),
        ("install_logging(level)", lambda b: tracing.install_logging(level=b, logger="bad_input_logger")),
        ("install_logging(logger)", lambda b: tracing.install_logging(logger=b)),
        ("run_step(message)", lambda b: tracing.run_step(b, lambda: 1)),
        ("run_step(handler)", lambda b: tracing.run_step({"step_name": "s"}, b)),
        ("Correlation.from_parts", lambda b: tracing.Correlation.from_parts(b, None, None, None, b)),
        ("Span.set(key)", lambda b: span.set(b, 1)),
        ("Span.set(value)", lambda b: span.set("k", b)),
        ("Span[key] = value", lambda b: span.__setitem__(b, b)),
        ("Span.add_event(name)", lambda b: span.add_event(b, f=b)),
        ("Span.record_exception", lambda b: span.record_exception(b)),
        ("Span.set_error", lambda b: span.set_error(b)),
        ("logging message", lambda b: logging.getLogger("bad_input").warning(b)),
        ("logging args", lambda b: logging.getLogger("bad_input").warning("%s %d", b, b)),
        ("logging extra", lambda b: logging.getLogger("bad_input").warning("m", extra={"field": b})),
    ]


def test_every_public_function_works_or_raises_tracing_error(capture, capsys):
    outcomes: Dict[str, int] = {"worked": 0, "tracing_error": 0}
    other: List[str] = []
    messages: List[str] = []
    handler = tracing.install_logging(logger="bad_input")
    logging.getLogger("bad_input").propagate = False  # only our handler sees these records

    def work() -> None:
        with tracing.span("surrounding", marker="kept") as outer:
            with tracing.span("inner_target") as target:
                for label, call in _calls(target):
                    for name, bad in BAD:
                        try:
                            call(bad)
                            outcomes["worked"] += 1
                        except tracing.TracingError as e:
                            outcomes["tracing_error"] += 1
                            messages.append(str(e))
                        except BaseException as e:  # noqa: BLE001 - what the test is about
                            other.append(f"{label} with {name}: {type(e).__name__}: {e!s:.200}")
            outer.set("after", "still here")

    try:
        capture.run(work)
    finally:
        logging.getLogger("bad_input").removeHandler(handler)
        logging.getLogger("bad_input_logger").handlers.clear()
    assert not other, "other exceptions escaped:\n" + "\n".join(other)
    assert all(m.strip() for m in messages)
    outer = capture.span("surrounding")
    assert outer["attributes"]["marker"] == "kept" and outer["attributes"]["after"] == "still here"
    tried = len(_calls(None)) * len(BAD)  # type: ignore[arg-type]
    assert outcomes["worked"] + outcomes["tracing_error"] == tried
    functions = len(_calls(None))  # type: ignore[arg-type]
    record_figures(
        {
            "test": "bad_input_python",
            "lang": "python",
            "load": f"{tried} calls inside one span",
            "faults": "-",
            "bad_inputs": f"{functions} public entry points x {len(BAD)} values ({', '.join(n for n, _ in BAD)})",
            "lost": 0,
            "worked": outcomes["worked"],
            "raised_tracing_error": outcomes["tracing_error"],
            "other_exceptions": len(other),
            "interpreter_crashes": 0,
            "surrounding_span_kept": True,
        }
    )


def test_documented_conversions_of_odd_text(capture):
    def work() -> None:
        with tracing.span(Unprintable(), **{"key": "v"}) as s:
            tracing.info("lone \ud800 surrogate", raw=b"\xff")
            s.set(42, "int key")
            s.add_event(None)
        with tracing.span("x" * 100_000):
            pass

    capture.run(work)
    names = [s["name"] for s in capture.spans()]
    assert "<unprintable Unprintable>" in names
    long_name = next(n for n in names if n.startswith("xxx"))
    assert len(long_name.encode()) < 300 and long_name.endswith("bytes]")
    line = next(l for l in capture.json_lines() if "surrogate" in l["message"])
    assert line["message"].startswith("lone \ufffd") and line["message"].endswith("\ufffd surrogate")
    assert line["fields"]["raw"] == "\ufffd"
    span = capture.span("<unprintable Unprintable>")
    assert span["attributes"]["42"] == "int key"


def test_bad_values_for_init_shutdown_and_the_environment_are_named():
    proc = run_python(
        """
        import os
        from tasker_core import tracing

        class Unprintable:
            def __str__(self):
                raise RuntimeError("boom")

        for label, call in [
            ("config_path int", lambda: tracing.init(config_path=42)),
            ("config_path missing", lambda: tracing.init(config_path="/nonexistent/t.toml")),
            ("override unprintable", lambda: tracing.init(service_name=Unprintable())),
            ("override bad protocol", lambda: tracing.init(otlp_protocol="pigeon")),
            ("override bad timeout", lambda: tracing.init(otlp_timeout_ms=-5)),
            ("override bad queue", lambda: tracing.init(otlp_max_queue_size="lots")),
            ("unknown key", lambda: tracing.init(no_such_setting=1)),
            ("shutdown timeout str", lambda: tracing.shutdown("soon")),
            ("shutdown timeout nan", lambda: tracing.shutdown(float("nan"))),
            ("shutdown timeout negative", lambda: tracing.shutdown(-1)),
            ("flush timeout inf", lambda: tracing.flush(float("inf"))),
        ]:
            try:
                call()
                print(label, "-> ok")
            except tracing.TracingError as e:
                print(label, "-> TracingError:", e)
        print("initialized:", tracing.is_initialized())
        """
    )
    out = proc.stdout
    assert "-> ok" not in out, out
    assert "config_path int -> TracingError: init config_path must be a path" in out
    assert "/nonexistent/t.toml" in out
    assert "override unprintable -> TracingError:" in out and "telemetry.service_name" in out
    assert "<unprintable Unprintable>" in out and "__str__" in out
    assert "telemetry.otlp.protocol" in out and '"pigeon"' in out and "grpc, http/protobuf" in out
    assert "telemetry.otlp.timeout_ms" in out and '"-5"' in out and "an integer from 1" in out
    assert "telemetry.otlp.max_queue_size" in out and '"lots"' in out
    assert "no_such_setting" in out
    assert "shutdown timeout str -> TracingError: shutdown timeout must be a number" in out
    assert "shutdown timeout nan -> TracingError: invalid timeout" in out
    assert "initialized: False" in out


@pytest.mark.parametrize(
    "var,value,allowed",
    [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "udp", "grpc, http/protobuf"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318", "http://"),
        ("OTEL_BSP_MAX_QUEUE_SIZE", "0", "an integer from 1"),
        ("OTEL_TRACES_SAMPLER_ARG", "2", "0.0 to 1.0"),
        ("TASKER_SHUTDOWN_TIMEOUT_MS", "forever", "an integer from 0"),
        ("TASKER_LOG_FORMAT", "xml", "pretty, json, compact"),
    ],
)
def test_invalid_environment_variables_name_the_variable_the_value_and_what_is_allowed(var, value, allowed):
    proc = run_python(
        """
        from tasker_core import tracing
        try:
            tracing.init()
        except tracing.TracingError as e:
            print("ERROR", e)
        """,
        env={var: value},
    )
    error = proc.stdout.split("ERROR", 1)[1]
    assert var in error and f'"{value}"' in error and allowed in error, error
