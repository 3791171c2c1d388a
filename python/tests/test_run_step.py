"""run_step: the core's per-step path hosting a Python handler in-process."""

from __future__ import annotations

import json

import pytest

from tasker_core import tracing

from conftest import run_python

CORR = "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b31"


def message(step_name: str, headers: dict) -> dict:
    return {"step_name": step_name, "handler": "ReserveInventoryHandler", "attempt": 2, "namespace": "inventory",
            "correlation_id": CORR, "task_uuid": "0190e7c4-5d2a-7cc0-a7a3-4f1d0c9a0b32", "headers": headers}


def test_the_handler_runs_inside_the_rust_step_span_which_continues_the_headers(capture):
    def work():
        with tracing.span("orchestrator_step") as sender:
            headers = tracing.inject()
            sender_id = sender.span_id

        def handler():
            assert tracing.current_correlation_id() == CORR
            with tracing.handler_span("ReserveInventoryHandler", {"step_name": "reserve"}):
                with tracing.span("reserve_sku"):
                    return 42

        # A Python span current around run_step must not become the handler's parent.
        with tracing.span("unrelated"):
            return sender_id, tracing.run_step(message("reserve", headers), handler)

    sender_id, value = capture.run(work)
    assert value == 42
    step = capture.span("execute_step")
    handler = capture.span("handler_execution")
    assert step["parent_span_id"] == sender_id
    assert handler["parent_span_id"] == step["span_id"], "the Python handler nests under the current Rust span"
    assert capture.span("reserve_sku")["parent_span_id"] == handler["span_id"]
    assert handler["attributes"]["correlation_id"] == CORR
    assert step["attributes"]["attempt"] == 2
    assert [e["name"] for e in step["events"]] == ["step.claimed", "step.executing", "step.completed"]


def test_an_exception_fails_the_step_and_propagates_unchanged(capture):
    class Declined(Exception):
        pass

    def handler():
        raise Declined("card declined")

    with pytest.raises(Declined, match="card declined"):
        capture.run(lambda: tracing.run_step(message("declined", {}), handler))
    step = capture.span("execute_step")
    assert step["status"] == "error"
    assert "card declined" in step["status_message"]
    assert "step.failed" in [e["name"] for e in step["events"]]


def test_an_invalid_message_raises_tracing_error_naming_the_field():
    with pytest.raises(tracing.TracingError, match="step_name"):
        tracing.run_step({"attempt": 1}, lambda: pytest.fail("must not run"))
    with pytest.raises(tracing.TracingError, match="attempt"):
        tracing.run_step({"step_name": "x", "attempt": "two"}, lambda: pytest.fail("must not run"))


def test_stats_count_the_spans_written_to_the_otlp_json_file(tmp_path):
    path = tmp_path / "traces.jsonl"
    proc = run_python(
        f"""
        import json
        from tasker_core import tracing
        assert tracing.stats() == {{"spans_started": 0, "spans_ended": 0, "spans_exported": 0, "spans_dropped": 0, "spans_pending": 0, "logs_dropped": 0, "metrics_dropped": 0, "attributes_dropped": 0, "attributes_truncated": 0}}
        tracing.init(service_name="py-file", otlp_file={str(path)!r})
        with tracing.span("outer"):
            for i in range(3):
                with tracing.span("inner", i=i):
                    pass
        tracing.shutdown()
        print(json.dumps(tracing.stats()))
        """
    )
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    assert stats["spans_started"] == 4 and stats["spans_ended"] == 4
    assert stats["spans_exported"] == 4 and stats["spans_dropped"] == 0 and stats["spans_pending"] == 0
    names = [
        span["name"]
        for line in path.read_text().splitlines()
        for rs in json.loads(line)["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    ]
    assert sorted(names) == ["inner", "inner", "inner", "outer"]
