"""The Python step worker of the example orchestrator (examples/src/order_fulfillment.rs).

It uses only the installed package: reads one JSON request per line on stdin, runs each step's
handler on a thread pool (the orchestrator sends two steps at once), and writes one JSON reply
per line on stdout (logs go to stderr). The protocol is the Ruby worker's (ruby_worker.rb).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict

from tasker_core import tracing

sys.path.insert(0, str(Path(__file__).resolve().parent / "handlers"))
from inventory_handlers import HANDLERS  # noqa: E402

# Export starts at import from the environment the orchestrator gives us (OTEL_SERVICE_NAME and
# OTEL_EXPORTER_OTLP_ENDPOINT, or TASKER_OTLP_FILE); nothing to call.
tracing.install_logging()  # stdlib logging goes through the core too

CONTEXT_KEYS = ("correlation_id", "task_uuid", "step_uuid", "namespace", "task_name", "step_name", "attempt", "retry_limit")
PROTOCOL = sys.stdout
sys.stdout = sys.stderr  # anything else a handler prints stays off the protocol stream
_write = threading.Lock()


def reply(message: Dict[str, Any]) -> None:
    with _write:
        PROTOCOL.write(json.dumps(message) + "\n")
        PROTOCOL.flush()


def run_handler(request: Dict[str, Any]) -> Any:
    """Runs the handler in its handler_execution span (inside the step's execute_step span)."""
    step = request["step"]
    handler = HANDLERS[step["handler"]]
    context = {k: step[k] for k in CONTEXT_KEYS if k in step}
    context["handler_class"] = step["handler"]
    with tracing.handler_span(step["handler"], context):
        return handler(request["input"], fail=bool(request.get("fail")))


def handle(request: Dict[str, Any]) -> None:
    """The package's per-step path, run_step: the execute_step span and the step lifecycle
    events. "in-process": the core continues the headers of the message itself; "workers": the
    worker continues them with remote_context, and run_step nests under that context."""
    step = request["step"]
    try:
        if request.get("mode") == "in-process":
            result = tracing.run_step(step, lambda: run_handler(request))
        else:
            message = {k: v for k, v in step.items() if k != "headers"}
            with tracing.remote_context(step.get("headers", {})):
                result = tracing.run_step(message, lambda: run_handler(request))
        reply({"id": request["id"], "ok": True, "result": result})
    except Exception as exc:  # the orchestrator decides about retries
        reply({"id": request["id"], "ok": False, "error": f"{type(exc).__name__}: {exc}"})


def main() -> None:
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="step")
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("type") == "ping":
            reply({"id": request["id"], "ready": True})
            continue
        if request.get("type") == "shutdown":
            pool.shutdown(wait=True)
            tracing.shutdown()
            reply({"id": request["id"], **tracing.stats()})
            return
        pool.submit(handle, request)


if __name__ == "__main__":
    main()
