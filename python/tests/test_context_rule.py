"""The context rule (the core's, the same in Ruby): the current span comes from contextvars
only; nothing is left current on the thread in Rust after a call returns, so generators, threads
and asyncio tasks sharing a thread never see each other's spans."""

from __future__ import annotations

import asyncio
import contextvars
import threading

from tasker_core import _native, tracing


def test_nothing_is_left_current_on_the_thread_after_a_span(capture):
    def work():
        with tracing.span("outer"):
            # The Rust side of this thread sees no span: only contextvars carry it.
            assert _native.current(None, None)[1] is None
            assert tracing.current_span_id() is not None
        return _native.current(None, None)[1]

    assert capture.run(work) is None


def test_a_generator_finished_on_another_thread_does_not_stay_current_on_the_first(capture):
    # Starlette's iterate_in_threadpool advances a generator on one thread and may finish it on
    # another. Before: the span stayed current on thread A, and every later span there joined
    # that old trace (run_step's execute_step included).
    def gen():
        with tracing.span("streaming"):
            yield 1
            yield 2

    def work():
        g = gen()
        next(g)  # the span is entered on this thread
        done = threading.Event()

        def finish():
            capture.run(lambda: list(g))
            done.set()

        threading.Thread(target=finish).start()
        done.wait(5)
        with tracing.span("later_on_a") as later:
            pass
        step_parent = {}
        tracing.run_step({"step_name": "s"}, lambda: step_parent.setdefault("trace", tracing.current_trace_id()))
        return later.trace_id, step_parent["trace"]

    later_trace, step_trace = capture.run(work)
    streaming = capture.span("streaming")
    assert capture.span("later_on_a")["parent_span_id"] is None
    assert later_trace != streaming["trace_id"]
    assert step_trace != streaming["trace_id"]
    assert capture.span("execute_step")["parent_span_id"] is None


def test_closing_a_generator_inside_another_span_does_not_reparent_later_spans(capture):
    def gen():
        with tracing.span("gen_span"):
            yield 1

    def work():
        g = gen()
        next(g)
        with tracing.span("closer"):
            g.close()  # gen_span exits out of order, inside "closer"
        with tracing.span("top_level_after"):
            pass

    capture.run(work)
    assert capture.span("top_level_after")["parent_span_id"] is None


def test_run_step_in_an_asyncio_task_is_a_root_not_a_child_of_another_tasks_span(capture):
    async def other_task(started: asyncio.Event, release: asyncio.Event):
        with tracing.span("other_task_span"):
            started.set()
            await release.wait()

    async def stepping(started: asyncio.Event, release: asyncio.Event):
        await started.wait()
        tracing.run_step({"step_name": "async_step"}, lambda: None)
        release.set()

    async def main():
        started, release = asyncio.Event(), asyncio.Event()
        await asyncio.gather(other_task(started, release), stepping(started, release))

    capture.run(lambda: asyncio.run(main()))
    assert capture.span("execute_step")["parent_span_id"] is None


def test_run_step_makes_its_span_and_correlation_current_in_contextvars(capture):
    cid = "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b11"
    seen = {}

    def handler():
        seen["parent"] = tracing.current_span_id()
        seen["correlation"] = tracing.current_correlation_id()
        with tracing.span("inside_step"):
            pass

    def work():
        with tracing.span("caller") as caller:
            tracing.run_step({"step_name": "s", "correlation_id": cid}, handler)
            return caller.span_id

    caller_id = capture.run(work)
    step = capture.span("execute_step")
    assert step["parent_span_id"] == caller_id
    assert seen == {"parent": step["span_id"], "correlation": cid}
    assert capture.span("inside_step")["parent_span_id"] == step["span_id"]


def test_a_span_started_from_a_finished_spans_context_is_its_child(capture):
    # Ruby and Python agree (the core decides): the finished span is still the parent.
    def work():
        with tracing.span("finished_parent") as parent:
            saved = contextvars.copy_context()
        saved.run(lambda: tracing.span("late_child").__enter__().__exit__(None, None, None))
        return parent.span_id

    parent_id = capture.run(work)
    assert capture.span("late_child")["parent_span_id"] == parent_id


def test_executor_threads_start_empty_and_copy_context_hands_over(capture):
    # Documented: a ThreadPoolExecutor job starts with no span; contextvars.copy_context().run
    # carries the current span and correlation to it.
    from concurrent.futures import ThreadPoolExecutor

    def work():
        with tracing.span("submitter") as s:
            with ThreadPoolExecutor(1) as pool:
                plain = pool.submit(lambda: capture.run(tracing.current_span_id)).result()
                ctx = contextvars.copy_context()
                handed = pool.submit(lambda: capture.run(lambda: ctx.run(tracing.current_span_id))).result()
            return s.span_id, plain, handed

    span_id, plain, handed = capture.run(work)
    assert plain is None and handed == span_id


def test_context_of_the_current_task_only(capture):
    # The parent handed to the core is this context's: a task interleaved on the same thread is
    # never seen.
    async def a(ev):
        with tracing.span("task_a"):
            ev.set()
            await asyncio.sleep(0.01)

    async def b(ev):
        await ev.wait()
        return tracing.current_span_id()

    async def main():
        ev = asyncio.Event()
        _, parent = await asyncio.gather(a(ev), b(ev))
        return parent

    assert capture.run(lambda: asyncio.run(main())) is None


def test_a_handler_span_finished_on_another_thread_leaves_no_correlation_behind(capture):
    cid = "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0c77"

    def gen():
        with tracing.handler_span("StreamingHandler", {"correlation_id": cid}):
            yield 1
            yield 2

    def work():
        g = gen()
        next(g)
        done = threading.Event()
        threading.Thread(target=lambda: (capture.run(lambda: list(g)), done.set())).start()
        done.wait(5)
        return tracing.current_correlation_id()

    assert capture.run(work) != cid
