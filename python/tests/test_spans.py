"""Spans: nesting, exceptions, the decorator, asyncio and thread context, Rust nesting."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from tasker_core import _native, tracing
from tasker_core._context import context


def test_nested_spans_share_the_trace_and_nest(capture):
    def work():
        with tracing.span("outer", order_id=7) as outer:
            with tracing.span("inner", level="debug") as hidden:
                assert not hidden.is_recording  # debug is filtered out: children skip it
                with tracing.span("leaf") as leaf:
                    assert leaf.trace_id == outer.trace_id
                    return outer.span_id, leaf.span_id

    outer_id, leaf_id = capture.run(work)
    outer, leaf = capture.span("outer"), capture.span("leaf")
    assert outer["parent_span_id"] is None
    assert outer["span_id"] == outer_id and outer["attributes"]["order_id"] == 7
    assert leaf["parent_span_id"] == outer_id and leaf["span_id"] == leaf_id
    assert all(s["name"] != "inner" for s in capture.spans())


def test_exception_is_recorded_and_reraised(capture):
    def work():
        with tracing.span("failing"):
            raise ValueError("card declined")

    with pytest.raises(ValueError, match="card declined"):
        capture.run(work)
    span = capture.span("failing")
    assert span["status"] == "error" and "card declined" in span["status_message"]
    attrs = span["attributes"]
    assert attrs["exception.type"] == "ValueError"
    assert attrs["exception.message"] == "card declined"
    assert "Traceback" in attrs["exception.stacktrace"] and "in work" in attrs["exception.stacktrace"]
    assert any(e["name"] == "exception" for e in span["events"])


def test_set_add_event_and_ids(capture):
    def work():
        with tracing.span("s") as s:
            s.set("receipt", "r-1")
            s["order"] = {"id": 3, "tags": ["a"]}
            s.add_event("charged", amount=9.5)
            assert len(s.trace_id) == 32 and len(s.span_id) == 16
            assert tracing.current_span_id() == s.span_id
            assert tracing.current_trace_id() == s.trace_id

    capture.run(work)
    span = capture.span("s")
    assert span["attributes"]["receipt"] == "r-1"
    assert span["attributes"]["order.id"] == 3 and span["attributes"]["order.tags"] == '["a"]'
    event = next(e for e in span["events"] if e["name"] == "charged")
    assert event["attributes"]["amount"] == 9.5
    assert tracing.current_span_id() is None


def test_setup_errors_raise_tracing_error():
    with pytest.raises(tracing.TracingError, match="loud"):
        tracing.span("x", level="loud")
    s = tracing.span("once")
    with s:
        pass
    with pytest.raises(tracing.TracingError, match="already"):
        with s:
            pass
    with pytest.raises(tracing.TracingError, match="not started"):
        tracing.span("never").set("k", 1)


def test_instrument_sync_async_and_generators(capture):
    @tracing.instrument
    def plain(x):
        return x * 2

    @tracing.instrument(name="custom", record_args=True)
    def with_args(self_like, order_id, password="x"):
        return order_id

    @tracing.instrument
    async def coro(n):
        await asyncio.sleep(0)
        with tracing.span("in_coro"):
            await asyncio.sleep(0)
        return n + 1

    @tracing.instrument
    def gen(n):
        for i in range(n):
            with tracing.span("in_gen"):
                pass
            yield i
        return "done"

    @tracing.instrument
    async def agen(n):
        for i in range(n):
            await asyncio.sleep(0)
            yield i

    async def consume_agen():
        return [i async for i in agen(3)]

    def work():
        assert plain(2) == 4
        assert with_args(object(), 5, password="hunter2") == 5
        assert asyncio.run(coro(1)) == 2
        assert list(gen(2)) == [0, 1]
        assert asyncio.run(consume_agen()) == [0, 1, 2]

    capture.run(work)
    names = [s["name"] for s in capture.spans()]
    assert "test_instrument_sync_async_and_generators.<locals>.plain" in names
    custom = capture.span("custom")["attributes"]
    assert custom["order_id"] == 5 and custom["password"] == "[REDACTED]"
    coro_span = next(s for s in capture.spans() if s["name"].endswith(".coro"))
    assert capture.span("in_coro")["parent_span_id"] == coro_span["span_id"]
    gen_span = next(s for s in capture.spans() if s["name"].endswith(".gen"))
    in_gen = [s for s in capture.spans() if s["name"] == "in_gen"]
    assert len(in_gen) == 2 and all(s["parent_span_id"] == gen_span["span_id"] for s in in_gen)
    assert any(s["name"].endswith(".agen") for s in capture.spans())
    assert plain.__name__ == "plain"  # functools.wraps


def test_generator_span_is_current_only_while_the_generator_runs(capture):
    @tracing.instrument
    def numbers():
        yield 1
        yield 2

    def work():
        for _ in numbers():
            with tracing.span("consumer"):
                pass

    capture.run(work)
    assert all(s["parent_span_id"] is None for s in capture.spans() if s["name"] == "consumer")


def test_exception_in_generator_and_coroutine_is_recorded(capture):
    @tracing.instrument
    def bad_gen():
        yield 1
        raise KeyError("missing")

    @tracing.instrument
    async def bad_coro():
        raise RuntimeError("nope")

    def work():
        with pytest.raises(KeyError):
            list(bad_gen())
        with pytest.raises(RuntimeError):
            asyncio.run(bad_coro())

    capture.run(work)
    for suffix, kind in ((".bad_gen", "KeyError"), (".bad_coro", "RuntimeError")):
        span = next(s for s in capture.spans() if s["name"].endswith(suffix))
        assert span["status"] == "error" and span["attributes"]["exception.type"] == kind


def test_asyncio_tasks_interleaving_keep_their_own_parents(capture):
    async def task(name):
        with tracing.span(name) as mine:
            for i in range(3):
                await asyncio.sleep(0.01)  # the other task runs here, inside its own span
                with tracing.span(f"{name}.child{i}"):
                    await asyncio.sleep(0)
                    tracing.info("tick", task=name)
            return mine.span_id

    async def main():
        with tracing.span("request"):
            return await asyncio.gather(task("a"), task("b"))

    a_id, b_id = capture.run(lambda: asyncio.run(main()))
    request = capture.span("request")
    assert capture.span("a")["parent_span_id"] == request["span_id"]
    assert capture.span("b")["parent_span_id"] == request["span_id"]
    for i in range(3):
        assert capture.span(f"a.child{i}")["parent_span_id"] == a_id
        assert capture.span(f"b.child{i}")["parent_span_id"] == b_id
    ticks = [l for l in capture.json_lines() if l["message"] == "tick"]
    assert len(ticks) == 6
    for line in ticks:
        assert line["spans"][-2] == line["fields"]["task"]


def test_asyncio_root_tasks_do_not_adopt_another_tasks_span(capture):
    async def holder(started):
        with tracing.span("holder"):
            started.set()
            await asyncio.sleep(0.05)

    async def other(started):
        await started.wait()  # "holder" is entered on this thread but not in this task
        with tracing.span("other"):
            pass

    async def main():
        started = asyncio.Event()
        await asyncio.gather(holder(started), other(started))

    capture.run(lambda: asyncio.run(main()))
    assert capture.span("other")["parent_span_id"] is None


def test_thread_started_with_copy_context_inherits_span_and_correlation(capture):
    seen = {}

    def in_thread():
        with tracing.span("in_thread"):
            seen["correlation"] = tracing.current_correlation_id()

    def work():
        with tracing.correlation() as corr, tracing.span("parent") as parent:
            ctx = contextvars.copy_context()
            t = threading.Thread(target=lambda: capture.run(lambda: ctx.run(in_thread)))
            t.start()
            t.join()
            return parent.span_id, corr.correlation_id

    parent_id, corr_id = capture.run(work)
    child = capture.span("in_thread")
    assert child["parent_span_id"] == parent_id
    assert seen["correlation"] == corr_id
    assert child["attributes"]["correlation_id"] == corr_id


def test_python_nests_under_a_rust_span_and_rust_under_python(capture):
    corr = "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11"

    def handler():
        with tracing.span("python_handler") as s:
            assert tracing.current_correlation_id() == corr
            # Rust code called from Python nests under the Python span when it is handed over
            # (the hook passes the Python context, as a binding call such as run_step does).
            _native._testing_rust_span("rust_inner", lambda: None, None, *context())
            return s.span_id, tracing.current_trace_id()

    def work():
        assert tracing.current_trace_id() is None
        return _native._testing_rust_span("rust_outer", handler, corr)

    (py_id, py_trace), rust_trace, rust_id = capture.run(work)
    python_span = capture.span("python_handler")
    assert python_span["parent_span_id"] == rust_id and py_trace == rust_trace
    assert python_span["attributes"]["correlation_id"] == corr
    assert capture.span("rust_inner")["parent_span_id"] == py_id
    assert capture.span("rust_outer")["span_id"] == rust_id


def test_python_rust_python_sandwich_nests_under_the_rust_span(capture):
    seen = {}

    def handler():  # Python called back by Rust code that a Python span called
        seen["current"] = tracing.current_span_id()
        with tracing.span("py_in_rust") as s:
            tracing.info("inside")
            with tracing.span("py_deeper"):
                pass
            return s.span_id

    def work():
        with tracing.span("py_outer") as outer:
            inner_id, _, rust_id = _native._testing_rust_span("rust_mid", handler, None, *context())
            with tracing.span("py_after"):
                pass
            return outer.span_id, inner_id, rust_id

    outer_id, inner_id, rust_id = capture.run(work)
    assert seen["current"] == rust_id
    assert capture.span("rust_mid")["parent_span_id"] == outer_id
    assert capture.span("py_in_rust")["parent_span_id"] == rust_id
    assert capture.span("py_deeper")["parent_span_id"] == inner_id
    assert capture.span("py_after")["parent_span_id"] == outer_id
    line = next(l for l in capture.json_lines() if l["message"] == "inside")
    # The console's span path is the Rust thread's: Python spans are never entered there, so the
    # path starts at the Rust span (rust_span: the macro name); the trace above nests fully.
    assert line["spans"] == ["rust_span", "py_in_rust"]


def test_current_ids_inside_a_rust_span(capture):
    def inside():
        return tracing.current_trace_id(), tracing.current_span_id()

    (trace_id, span_id), rust_trace, rust_id = capture.run(lambda: _native._testing_rust_span("r", inside))
    assert (trace_id, span_id) == (rust_trace, rust_id)


def test_span_target_is_the_calling_module_and_levels_are_read_natively(capture_factory):
    # `tracing.span` is native: its target (what filters match) comes from the calling frame's
    # module, as `sys._getframe(1)` gave it when the function was Python.
    only_here = f"warn,{__name__}=info"
    cap = capture_factory(("logging.level", only_here), ("logging.export_level", only_here))
    elsewhere: dict = {"__name__": "some.other_module", "tracing": tracing}
    exec("def make(name, **kw):\n    return tracing.span(name, **kw)", elsewhere)

    def work():
        with tracing.span("mine") as mine:
            assert mine.span_id is not None
        with elsewhere["make"]("theirs") as theirs:
            assert theirs.span_id is None  # info in another module: below `warn`, not exported
        with elsewhere["make"]("theirs_warn", level="WARNING") as loud:
            assert loud.span_id is not None
        with tracing.span("by_number", 30) as numbered:  # logging.WARNING
            assert numbered.span_id is not None
        with tracing.span("default_level") as default:  # info
            assert default.span_id is not None

    cap.run(work)
    names = {s["name"] for s in cap.spans()}
    assert {"mine", "theirs_warn", "by_number", "default_level"} <= names and "theirs" not in names
    for bad in (object(), None, "loud"):
        with pytest.raises(tracing.TracingError, match="not a level"):
            tracing.span("x", level=bad)


def test_span_is_one_native_type_with_the_python_api(capture):
    s = tracing.span("typed", a=1)
    assert type(s) is tracing.Span and isinstance(s, tracing.Span)
    assert s.name == "typed" and s.trace_id is None and not s.is_recording
    assert repr(s) == "<tracing.Span 'typed' span_id=None>"
    with pytest.raises(tracing.TracingError, match="expects an exception, got int"):
        capture.run(lambda: tracing.start_span("started").record_exception(1))  # type: ignore[arg-type]

    def work():
        with tracing.span("typed_outer") as outer:
            assert repr(outer) == f"<tracing.Span 'typed_outer' span_id={outer.span_id}>"
            started = tracing.start_span("side")
            assert started.span_id and tracing.current_span_id() == outer.span_id  # not made current
            started.end()
            started.end()  # idempotent
        return outer

    outer = capture.run(work)
    assert outer.span_id == capture.span("typed_outer")["span_id"]  # ids stay readable after the block
    assert capture.span("side")["parent_span_id"] == outer.span_id


def test_use_span_makes_a_started_span_the_parent_and_refuses_an_unstarted_one(capture):
    def work():
        started = tracing.start_span("used")
        with tracing.use_span(started) as same:
            assert same is started and tracing.current_span_id() == started.span_id
            with tracing.span("under_used"):
                pass
        assert tracing.current_span_id() is None
        started.end()
        with pytest.raises(tracing.TracingError, match="has not started"):
            with tracing.use_span(tracing.span("never_started")):
                pass
        return started.span_id

    used_id = capture.run(work)
    assert capture.span("under_used")["parent_span_id"] == used_id


def test_span_can_be_subclassed_and_is_collected_in_a_cycle(capture):
    import gc
    import weakref

    class Tagged(tracing.Span):
        def tag(self) -> str:
            return f"tagged {self.name}"

    def work():
        with Tagged("sub", 2, __name__, {"a": 1}) as s:
            assert s.tag() == "tagged sub" and s.span_id is not None
        class Marker:
            pass

        marker = Marker()
        fields: dict = {"marker": marker}
        cyclic = tracing.span("cyclic", f=fields)
        fields["self"] = cyclic  # the span's fields hold the span: a cycle only the GC frees
        ref = weakref.ref(marker)
        del cyclic, fields, marker
        gc.collect()
        assert ref() is None

    capture.run(work)
    assert capture.span("sub")["attributes"]["a"] == 1


def test_a_span_ended_while_one_of_its_values_converts_ends_cleanly(capture):
    # A value's __str__ may run anything, here the end of the span it is being set on (or, on
    # another thread, any use of the span): the span is not held borrowed meanwhile.
    def work():
        s = tracing.span("ended_inside_set")
        s.__enter__()

        class EndsTheSpan:
            def __str__(self) -> str:
                s.__exit__(None, None, None)
                return "value"

        s.set("k", EndsTheSpan())
        assert tracing.current_span_id() is None, "the span was left current"

    capture.run(work)
    assert capture.span("ended_inside_set")["name"] == "ended_inside_set"
