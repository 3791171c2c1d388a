# frozen_string_literal: true

# The Ruby step worker of the example orchestrator (examples/src/order_fulfillment.rs). It uses
# only the installed gem: reads one JSON request per line on stdin, runs the step's handler and
# writes one JSON reply per line on stdout (logs go to stderr).
#
# Request: {"id", "type": "step", "mode": "workers"|"in-process", "step": {step_name, handler,
#           attempt, correlation_id, task_uuid, step_uuid, namespace, headers}, "input", "fail"}
#          {"id", "type": "ping"} (answered once the worker is ready), {"id", "type": "shutdown"}
# Reply:   {"id", "ok": true, "result"} | {"id", "ok": false, "error"} | {"id", "spans_ended", ...}
require "json"
require "tasker_core/tracing"
require_relative "handlers/payment_handler"

T = TaskerCore::Tracing
# Export starts at require from the environment the orchestrator gives us (OTEL_SERVICE_NAME and
# OTEL_EXPORTER_OTLP_ENDPOINT, or TASKER_OTLP_FILE); T.init(**overrides) would apply settings
# over that.
LOGGER = T::Logger.new(progname: "ruby-worker")
HANDLERS = { "PaymentHandler" => PaymentHandler.new(LOGGER) }.freeze
CONTEXT_KEYS = %w[correlation_id task_uuid step_uuid namespace task_name step_name attempt retry_limit].freeze

PROTOCOL = $stdout.dup
PROTOCOL.sync = true
$stdout.reopen($stderr) # anything else a handler prints stays off the protocol stream

# Runs the handler in its handler_execution span (inside the step's execute_step span).
def run_handler(request)
  step = request.fetch("step")
  handler = HANDLERS.fetch(step.fetch("handler"))
  context = step.slice(*CONTEXT_KEYS).merge("handler_class" => step["handler"])
  T.handler_span(step["handler"], context) { handler.call(request.fetch("input"), fail: request["fail"]) }
end

# The gem's per-step path, run_step: the execute_step span and the step lifecycle events.
# "in-process": the core continues the headers of the message itself; "workers": the worker
# continues them with with_remote_context, and run_step nests under that context.
def handle(request)
  step = request.fetch("step")
  result =
    if request["mode"] == "in-process"
      T.run_step(step) { run_handler(request) }
    else
      T.with_remote_context(step.fetch("headers", {})) do
        T.run_step(step.except("headers")) { run_handler(request) }
      end
    end
  { id: request["id"], ok: true, result: result }
rescue StandardError => e
  { id: request["id"], ok: false, error: "#{e.class}: #{e.message}" }
end

$stdin.each_line do |line|
  request = JSON.parse(line)
  if request["type"] == "ping"
    PROTOCOL.puts(JSON.generate({ id: request["id"], ready: true }))
    next
  end
  if request["type"] == "shutdown"
    T.shutdown
    PROTOCOL.puts(JSON.generate({ id: request["id"] }.merge(T.stats)))
    break
  end
  PROTOCOL.puts(JSON.generate(handle(request)))
end
